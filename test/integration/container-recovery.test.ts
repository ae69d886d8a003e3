import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { nowNanos } from '../../lib/util/time.js';

let fx: ContainerFixture;

before(async () => {
  fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '1000'] } });
});

after(async () => {
  await fx?.destroy();
});

it('after a SIGKILL of the daemon, running containers keep running and one that exited meanwhile reports its real exit code and time', async () => {
  const pod = await fx.runPod();
  const ipBefore = (await fx.client.runtime('PodSandboxStatus', { pod_sandbox_id: pod.id })).status!.network!.ip;
  const running = await fx.run(pod, 'plain', { metadata: { name: 'keeps-running' } });
  const exiting = await fx.run(pod, 'plain', { metadata: { name: 'exits-while-down' }, command: ['sh', '-c', 'sleep 1.5; exit 7'] });
  const created = await fx.create(pod, 'plain', { metadata: { name: 'never-started' } });
  const pid = JSON.parse((await fx.client.runtime('ContainerStatus', { container_id: running, verbose: true })).info!.info!).pid as number;

  await fx.daemon.kill();
  const killedAt = nowNanos();
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(existsSync(`/proc/${pid}`), 'the container outlived the daemon');
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs });
  const restartedAt = nowNanos();

  const r = await fx.status(running);
  assert.equal(r.state, 'CONTAINER_RUNNING');
  const e = await fx.status(exiting);
  assert.equal(e.state, 'CONTAINER_EXITED');
  assert.equal(e.exit_code, 7);
  assert.equal(e.reason, 'Error');
  const finished = BigInt(e.finished_at as string);
  assert.ok(finished > killedAt && finished < restartedAt, 'finished_at is when it exited, not when the daemon noticed');
  assert.equal((await fx.status(created)).state, 'CONTAINER_CREATED');
  const listed = (await fx.client.runtime('ListContainers', { filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers!.map((c) => c.id);
  assert.deepEqual(listed, [running]);
  assert.equal((await fx.client.runtime('PodSandboxStatus', { pod_sandbox_id: pod.id })).status!.network!.ip, ipBefore);

  const exec = await fx.exec(running, ['echo', 'still-here']);
  assert.equal(exec.stdout, 'still-here\n');
  await fx.client.runtime('StartContainer', { container_id: created });
  await fx.client.runtime('StopContainer', { container_id: running, timeout: 0 });
  assert.equal((await fx.status(running)).exit_code, 137);
  await fx.removePod(pod.id);
  await expectCode(fx.client.runtime('ContainerStatus', { container_id: running }), grpc.status.NOT_FOUND);
  assert.ok(!existsSync(`/proc/${pid}/cmdline`), 'stopped and removed');
});

it('a container exiting while the daemon restarts is noticed without a status call racing it', async () => {
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'plain', { metadata: { name: 'exits-at-restart' }, command: ['sh', '-c', 'sleep 0.3; exit 4'] });
  await fx.daemon.kill();
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs });
  const s = await fx.waitExited(id, 5000);
  assert.equal(s.exit_code, 4);
  await fx.removePod(pod.id);
});

it('at start, a root filesystem and a container directory that no record names are removed; recorded ones stay', async () => {
  const pod = await fx.runPod();
  const kept = await fx.run(pod, 'plain', { metadata: { name: 'recorded' } });
  await fx.daemon.kill();
  // What a power loss during a CreateContainer can leave: the directories, but not the record.
  const stray = 'f'.repeat(64);
  const strayRootfs = join(fx.dirs.root, 'overlay', 'containers', stray);
  for (const d of ['upper/etc', 'work', 'merged']) mkdirSync(join(strayRootfs, d), { recursive: true });
  writeFileSync(join(strayRootfs, 'rootfs.json'), JSON.stringify({ layers: [], mountPoint: join(strayRootfs, 'merged') }));
  writeFileSync(join(strayRootfs, 'upper', 'etc', 'written'), 'x');
  const strayDir = join(fx.dirs.root, 'containers', stray);
  mkdirSync(strayDir, { recursive: true });
  writeFileSync(join(strayDir, 'stray.log'), 'x');

  fx.daemon = await TestDaemon.start({ dirs: fx.dirs });
  assert.ok(!existsSync(strayRootfs), 'the unrecorded root filesystem is gone');
  assert.ok(!existsSync(strayDir), 'the unrecorded container directory is gone');
  assert.ok(existsSync(join(fx.dirs.root, 'overlay', 'containers', kept)), 'a recorded container keeps its root filesystem');
  assert.equal((await fx.client.runtime('PodSandboxStatus', { pod_sandbox_id: pod.id })).status!.state, 'SANDBOX_READY');
  assert.equal((await fx.status(kept)).state, 'CONTAINER_RUNNING');
  assert.equal((await fx.exec(kept, ['echo', 'ok'])).stdout, 'ok\n');
  await fx.removePod(pod.id);
});
