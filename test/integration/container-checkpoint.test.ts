import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { writeCheckpointArchive } from '../../lib/container/checkpoint-archive.js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { expectCode } from '../helpers/cri-client.js';

let fx: ContainerFixture;
let out: string;

/** What `criu check` says on this node: undefined when CRIU works here. */
function criuRefusal(): string | undefined {
  const r = spawnSync('criu', ['check'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return r.error.message;
  if (r.status === 0) return undefined;
  return (r.stderr || r.stdout).trim().split('\n').pop();
}

const refusal = criuRefusal();
const COUNTER = 'i=0; while true; do echo $i > /tmp/count; i=$((i+1)); sleep 0.1; done';

before(async () => {
  fx = await ContainerFixture.start({ busybox: { Cmd: ['/bin/sh'] } });
  out = mkdtempSync('/tmp/rct-ckpt-');
});

after(async () => {
  await fx?.destroy();
  if (out) rmSync(out, { recursive: true, force: true });
});

async function count(id: string): Promise<number> {
  return Number((await fx.exec(id, ['/bin/cat', '/tmp/count'])).stdout.trim());
}

/** Whether the counter goes on from where it is (within a few seconds, on a busy node too). */
async function counting(id: string): Promise<boolean> {
  const from = await count(id);
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 100));
    if ((await count(id)) > from) return true;
  }
  return false;
}

it('where CRIU cannot work, CheckpointContainer is FAILED_PRECONDITION quoting CRIU, writes nothing, and the container runs on', { skip: refusal === undefined && 'CRIU works on this node', timeout: 60_000 }, async () => {
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sh', '-c', COUNTER] });
  const location = join(out, 'counter.tar');
  const err = await expectCode(fx.client.runtime('CheckpointContainer', { container_id: id, location }), grpc.status.FAILED_PRECONDITION);
  assert.match(err.details, new RegExp(`cannot checkpoint container ${id}: CRIU cannot checkpoint on this node: \`criu check\` failed`));
  assert.ok(err.details.includes(refusal!), `CRIU's own words (${refusal}) in: ${err.details}`);
  assert.deepEqual(readdirSync(out), [], 'no archive and no temporary file');
  // The verdict is kept: the second answer is the same and does not run CRIU again.
  const started = Date.now();
  const again = await expectCode(fx.client.runtime('CheckpointContainer', { container_id: id, location }), grpc.status.FAILED_PRECONDITION);
  assert.equal(again.details, err.details);
  assert.ok(Date.now() - started < 1000);
  assert.ok(await counting(id), 'the container runs on');
  assert.equal((await fx.status(id)).state, 'CONTAINER_RUNNING');
  await fx.removePod(pod.id);
});

it('where CRIU cannot work, a container created from a checkpoint archive is FAILED_PRECONDITION and leaves nothing', { skip: refusal === undefined && 'CRIU works on this node', timeout: 60_000 }, async () => {
  const work = join(out, 'work');
  mkdirSync(join(work, 'checkpoint'), { recursive: true });
  writeFileSync(join(work, 'checkpoint', 'inventory.img'), 'not read: the restore is refused first');
  writeFileSync(join(work, 'config.dump'), JSON.stringify({ id: 'x', name: 'counter', rootfsImageName: fx.image('busybox'), createdTime: '', checkpointedTime: '', restored: false }));
  writeFileSync(join(work, 'spec.dump'), JSON.stringify({ process: { args: ['/bin/sh', '-c', COUNTER] } }));
  const archive = join(out, 'handmade.tar');
  await writeCheckpointArchive(work, archive);
  rmSync(work, { recursive: true });
  const pod = await fx.runPod();
  const dirsBefore = readdirSync(join(fx.dirs.root, 'containers'));
  const err = await expectCode(fx.create(pod, 'busybox', { metadata: { name: 'restored' }, image: { image: archive } }), grpc.status.FAILED_PRECONDITION);
  assert.match(err.details, new RegExp(`cannot restore a container from checkpoint ${archive}: CRIU cannot checkpoint on this node`));
  assert.equal((await fx.client.runtime('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers!.length, 0);
  assert.deepEqual(readdirSync(join(fx.dirs.root, 'containers')), dirsBefore, 'nothing of the container is left');
  // A path that is no file is no image either.
  const bad = await expectCode(fx.create(pod, 'busybox', { metadata: { name: 'restored' }, image: { image: join(out, 'absent.tar') } }), grpc.status.INVALID_ARGUMENT);
  assert.match(bad.details, /neither an image reference nor a checkpoint archive/);
  rmSync(archive);
  await fx.removePod(pod.id);
});

it('where CRIU cannot work, CheckpointPod and RestorePod are FAILED_PRECONDITION quoting CRIU: the pod runs on, nothing is written, no pod is made', { skip: refusal === undefined && 'CRIU works on this node', timeout: 60_000 }, async () => {
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sh', '-c', COUNTER] });
  const location = join(out, 'pod.tar');
  const err = await expectCode(fx.client.runtime('CheckpointPod', { pod_sandbox_id: pod.id, output_path: location }), grpc.status.FAILED_PRECONDITION);
  assert.match(err.details, new RegExp(`cannot checkpoint pod ${pod.id}: CRIU cannot checkpoint on this node`));
  assert.ok(err.details.includes(refusal!));
  assert.deepEqual(readdirSync(out), []);
  assert.equal((await fx.status(id)).state, 'CONTAINER_RUNNING');
  assert.ok(await counting(id), 'not left frozen');
  await expectCode(fx.client.runtime('CheckpointPod', { pod_sandbox_id: 'f'.repeat(64), output_path: location }), grpc.status.NOT_FOUND);

  writeFileSync(join(out, 'some-pod.tar'), 'refused before it is read');
  const pods = (await fx.client.runtime('ListPodSandbox', {})).items!.length;
  const restore = await expectCode(fx.client.runtime('RestorePod', { checkpoint_path: join(out, 'some-pod.tar'), config: fx.podConfig() }), grpc.status.FAILED_PRECONDITION);
  assert.match(restore.details, /cannot restore a pod from checkpoint .*: CRIU cannot checkpoint on this node/);
  assert.equal((await fx.client.runtime('ListPodSandbox', {})).items!.length, pods, 'no pod was made');
  rmSync(join(out, 'some-pod.tar'));
  await fx.removePod(pod.id);
});

it('a checkpoint of a counter restores into a container that counts on from where it was', { skip: refusal !== undefined && `CRIU cannot work on this node: ${refusal}`, timeout: 120_000 }, async () => {
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sh', '-c', COUNTER] });
  await new Promise((r) => setTimeout(r, 1000));
  const location = join(out, 'live.tar');
  await fx.client.runtime('CheckpointContainer', { container_id: id, location });
  const atCheckpoint = await count(id);
  await fx.client.runtime('StopContainer', { container_id: id, timeout: 0 });
  await fx.client.runtime('RemoveContainer', { container_id: id });
  const restored = await fx.create(pod, 'busybox', { metadata: { name: 'restored' }, image: { image: location } });
  await fx.client.runtime('StartContainer', { container_id: restored });
  await new Promise((r) => setTimeout(r, 500));
  const now = await count(restored);
  assert.ok(now >= atCheckpoint - 2 && now < atCheckpoint + 50, `the count went on from ${atCheckpoint}: ${now}`);
  await fx.removePod(pod.id);
});
