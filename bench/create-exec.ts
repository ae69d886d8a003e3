/**
 * The per-container paths against runc itself, rounds alternated so the machine's noise falls
 * on both alike: CreateContainer+StartContainer next to `runc create` + `runc start` of the
 * daemon's own config.json on a plain busybox rootfs (and the same create run by conmon, the
 * share of the floor that conmon costs), and one ExecSync of `true` next to one
 * `runc exec` of the same process spec in the same container.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerFixture } from '../test/helpers/container-fixture.js';
import type { OciSpec } from '../lib/oci/index.js';
import { compare, metric, percentile, timeMs } from './report.js';
import { RuncCreateStartFloor, runc } from './runc-floor.js';

const CREATE_ROUNDS = 50;
const EXEC_ROUNDS = 100;

export async function run(): Promise<void> {
  const fx = await ContainerFixture.start({ bench: { Cmd: ['sleep', '100000'] } });
  const floorDir = join(fx.dirs.base, 'floor');
  try {
    const pod = await fx.runPod();
    const first = await fx.run(pod, 'bench', { metadata: { name: 'template' } });
    const template = JSON.parse((await fx.client.runtime('ContainerStatus', { container_id: first, verbose: true })).info!.info!).runtimeSpec as OciSpec;
    const floor = new RuncCreateStartFloor(floorDir, template, fx.cgroupRoot);
    const conmonFloor = new RuncCreateStartFloor(join(fx.dirs.base, 'conmon-floor'), template, fx.cgroupRoot, '/usr/bin/conmon');

    const created: number[] = [];
    const floorCreated: number[] = [];
    const conmonCreated: number[] = [];
    for (let i = 0; i < CREATE_ROUNDS; i++) {
      const [ms, id] = await timeMs(() => fx.run(pod, 'bench', { metadata: { name: `s${i}` } }));
      created.push(ms);
      await fx.client.runtime('StopContainer', { container_id: id, timeout: 0 });
      await fx.client.runtime('RemoveContainer', { container_id: id });
      floorCreated.push(await floor.sample());
      conmonCreated.push(await conmonFloor.sample());
    }
    compare('create_start_p50', percentile(created, 50), percentile(floorCreated, 50), 'ms');
    compare('create_start_p90', percentile(created, 90), percentile(floorCreated, 90), 'ms');
    // What conmon alone adds to raw runc, and runcri's create+start beside runc through conmon.
    compare('conmon_create_start_p50', percentile(conmonCreated, 50), percentile(floorCreated, 50), 'ms');
    metric('create_start_p50_to_conmon_floor_ratio', percentile(created, 50) / percentile(conmonCreated, 50), 'x');
    metric('create_start_goal_ratio', 1.25, 'x');

    const processFile = join(floorDir, 'exec-process.json');
    writeFileSync(processFile, JSON.stringify({ ...template.process, args: ['true'], terminal: false }));
    const execs: number[] = [];
    const floorExecs: number[] = [];
    for (let i = 0; i < EXEC_ROUNDS; i++) {
      const [ms, answer] = await timeMs(() => fx.client.runtime('ExecSync', { container_id: first, cmd: ['true'], timeout: 10 }));
      if ((answer.exit_code ?? 0) !== 0) throw new Error(`ExecSync true exited ${answer.exit_code}`);
      execs.push(ms);
      floorExecs.push((await timeMs(() => runc(join(fx.dirs.state, 'runc'), ['exec', '--process', processFile, first])))[0]);
    }
    compare('exec_sync_roundtrip_p50', percentile(execs, 50), percentile(floorExecs, 50), 'ms');
    compare('exec_sync_roundtrip_p90', percentile(execs, 90), percentile(floorExecs, 90), 'ms');
    metric('exec_sync_goal_ratio', 1.3, 'x');
  } finally {
    await fx.destroy();
  }
}
