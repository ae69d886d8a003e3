import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRuntimeError } from '../../lib/errors/index.js';
import type { PodCheckpoints } from '../../lib/container/index.js';
import type { PodRecord } from '../../lib/sandbox/index.js';
import { TarReader } from '../../lib/storage/index.js';
import { container, podConfig } from '../helpers/cri-config.js';
import { createRequest, harness, log, never, POD_ID, type Harness } from '../helpers/lifecycle-harness.js';

function memberNames(path: string): string[] {
  const reader = new TarReader();
  reader.write(readFileSync(path));
  reader.close();
  const names: string[] = [];
  for (let e = reader.read(); e !== undefined && e.kind !== 'end'; e = reader.read()) if (e.kind === 'entry') names.push(e.entry.name);
  return names;
}

function kindOf(err: unknown): string {
  return isRuntimeError(err) ? err.kind : String(err);
}

const POD = { id: POD_ID, metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 }, config: podConfig() } as PodRecord;

/** The pod service as RestorePod uses it: runs give the one pod the harness's creates know; stops and removals are recorded. */
function podCheckpoints(h: Harness): { pc: PodCheckpoints; podCalls: string[] } {
  const podCalls: string[] = [];
  const pc = h.lifecycle.podCheckpoints({
    creator: h.creator,
    pods: {
      run: async (req) => { podCalls.push(`run:${req.config?.metadata?.name}`); return POD_ID; },
      stop: async (id) => { podCalls.push(`stop:${id}`); await h.lifecycle.stopPodContainers(id); },
      remove: async (id) => { podCalls.push(`remove:${id}`); },
    },
  });
  return { pc, podCalls };
}

async function running(h: Harness, name: string): Promise<string> {
  const id = await h.creator.create(createRequest(name), never, log);
  await h.lifecycle.start(id, log);
  return id;
}

test('CheckpointPod freezes the pod\'s running containers, dumps each into its directory of one archive with pod.options and pod.dump, and thaws them', async () => {
  const h = await harness(21);
  h.fake.criu = { usable: true };
  const { pc } = podCheckpoints(h);
  const a = await running(h, 'a');
  const b = await running(h, 'b');
  const idle = await h.creator.create(createRequest('idle'), never, log);
  h.fake.memory.set(a, 'a=1');
  h.fake.memory.set(b, 'b=2');
  const out = mkdtempSync(join(tmpdir(), 'runcri-podckpt-'));
  await pc.checkpoint(POD, { outputPath: join(out, 'pod.tar'), containerIds: [], leaveRunning: true }, log);

  const names = memberNames(join(out, 'pod.tar'));
  for (const n of ['pod.options', 'pod.dump', `${a}-a/checkpoint/fake-pages.img`, `${a}-a/config.dump`, `${a}-a/spec.dump`, `${a}-a/rootfs-diff.tar`, `${b}-b/checkpoint/fake-pages.img`, `${b}-b/config.dump`]) {
    assert.ok(names.includes(n), `${n} in ${names.join(' ')}`);
  }
  assert.equal(names.some((n) => n.startsWith(idle)), false, 'a container that is not running is not in it');
  const calls = h.fake.calls.filter((c) => /^(pause|checkpoint|resume):/.test(c));
  assert.deepEqual(calls.map((c) => c.split(':')[0]), ['pause', 'pause', 'checkpoint', 'checkpoint', 'resume', 'resume'], 'every container frozen before the first dump');
  assert.equal(h.lifecycle.get(a).state, 'CONTAINER_RUNNING');
  assert.equal(existsSync(join(h.paths.root, 'pod-checkpoints', POD_ID)), false, 'the work directory is gone');

  // RestorePod: a new pod (the archive's config), each container restored and running with its memory.
  await h.lifecycle.remove(a, log);
  await h.lifecycle.remove(b, log);
  const { pc: pc2, podCalls } = podCheckpoints(h);
  const restored = await pc2.restore({
    checkpointPath: join(out, 'pod.tar'), config: null, runtimeHandler: '',
    containerConfigs: ['a', 'b'].map((name) => container({ metadata: { name, attempt: 1 }, image: null })),
  }, log);
  assert.deepEqual(podCalls, [`run:${POD.config.metadata!.name}`]);
  assert.equal(restored.podId, POD_ID);
  assert.deepEqual(restored.containers.map((c) => c.name), ['a', 'b']);
  for (const { name, containerId } of restored.containers) {
    assert.equal(h.lifecycle.get(containerId).state, 'CONTAINER_RUNNING');
    assert.equal(h.fake.memory.get(containerId), name === 'a' ? 'a=1' : 'b=2');
  }
  assert.deepEqual(readdirSync(join(h.paths.root, 'pod-restores')), [], 'the unpacked archive is gone');
  rmSync(out, { recursive: true });
  h.store.close();
});

test('a CheckpointPod that does not leave the containers running thaws none of them; they stop', async () => {
  const h = await harness(22);
  h.fake.criu = { usable: true };
  const { pc } = podCheckpoints(h);
  const a = await running(h, 'a');
  const out = mkdtempSync(join(tmpdir(), 'runcri-podckpt-'));
  await pc.checkpoint(POD, { outputPath: join(out, 'pod.tar'), containerIds: [a], leaveRunning: false }, log);
  assert.equal(h.fake.calls.some((c) => c.startsWith('resume:')), false);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(h.lifecycle.get(a).state, 'CONTAINER_EXITED');
  rmSync(out, { recursive: true });
  h.store.close();
});

test('where CRIU cannot work, CheckpointPod and RestorePod are FAILED_PRECONDITION before anything is frozen or made; bad requests are refused', async () => {
  const h = await harness(23);
  h.fake.criu = { usable: false, reason: 'criu check failed: vDSO' };
  const { pc, podCalls } = podCheckpoints(h);
  const a = await running(h, 'a');
  const out = mkdtempSync(join(tmpdir(), 'runcri-podckpt-'));
  const location = join(out, 'pod.tar');
  await assert.rejects(pc.checkpoint(POD, { outputPath: location, containerIds: [], leaveRunning: true }, log), (err: unknown) => kindOf(err) === 'failed_precondition' && /cannot checkpoint pod .*: criu check failed: vDSO/.test((err as Error).message));
  assert.equal(h.fake.calls.some((c) => c.startsWith('pause:')), false);
  assert.deepEqual(readdirSync(out), []);
  await assert.rejects(pc.checkpoint(POD, { outputPath: location, containerIds: ['f'.repeat(64)], leaveRunning: true }, log), (err: unknown) => kindOf(err) === 'not_found');
  await h.lifecycle.stopContainer(a, 0, log);
  await assert.rejects(pc.checkpoint(POD, { outputPath: location, containerIds: [], leaveRunning: true }, log), (err: unknown) => kindOf(err) === 'failed_precondition' && /no running container/.test((err as Error).message));
  await assert.rejects(pc.restore({ checkpointPath: join(out, 'absent.tar'), config: null, runtimeHandler: '', containerConfigs: [] }, log), (err: unknown) => kindOf(err) === 'invalid_argument');
  writeFileSync(join(out, 'some.tar'), 'x');
  await assert.rejects(pc.restore({ checkpointPath: join(out, 'some.tar'), config: null, runtimeHandler: '', containerConfigs: [] }, log), (err: unknown) => kindOf(err) === 'failed_precondition' && /cannot restore a pod from checkpoint/.test((err as Error).message));
  assert.deepEqual(podCalls, [], 'no pod was made');
  rmSync(out, { recursive: true });
  h.store.close();
});
