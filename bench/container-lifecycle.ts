/**
 * Containers against their floor: CreateContainer+StartContainer next to `runc create` +
 * `runc start` of the same config.json on a plain busybox rootfs (same pod namespaces) in the
 * same run; Stop+Remove; ListContainers and ContainerStatus with 100 running containers; and
 * the memory of the daemon plus every conmon at 0, 50 and 100 running containers.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerFixture } from '../test/helpers/container-fixture.js';
import { TestDaemon, makeTestDirs, removeTestDirs } from '../test/helpers/daemon.js';
import { StateStore } from '../lib/state/index.js';
import type { ContainerRecord } from '../lib/container/index.js';
import type { OciSpec } from '../lib/oci/index.js';
import { compare, metric, percentile, pssKiB, timeMs } from './report.js';
import { RuncCreateStartFloor } from './runc-floor.js';

const N = 30;
const RUNNING = 100;
const SAMPLES = 300;
const RECORDS = 900;
const RECORD_PODS = 300;

/** runc itself; its stdio goes to the container (`runc create` without a terminal hands it over), so none is kept here. */
/** PIDs of the conmon processes monitoring this daemon's containers (their exit dir is under its state dir). */
function conmonPids(stateDir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.startsWith('/usr/bin/conmon\0') && cmd.includes(`${stateDir}/exits`)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

function memoryMiB(daemonPid: number, stateDir: string): { total: number; conmons: number } {
  const read = (p: string) => readFileSync(p, 'utf8');
  const conmons = conmonPids(stateDir);
  const kib = pssKiB(daemonPid, read) + conmons.reduce((s, pid) => s + pssKiB(pid, read), 0);
  return { total: kib / 1024, conmons: conmons.length };
}

/** ListContainers over 900 container records of 300 pods, all exited: the daemon answers from memory. */
async function listAtScale(): Promise<void> {
  const dirs = makeTestDirs();
  const store = StateStore.open(join(dirs.root, 'state.db'));
  const table = store.table<ContainerRecord>('containers');
  store.transaction(() => {
    for (let i = 0; i < RECORDS; i++) {
      const id = `${i.toString(16).padStart(8, '0')}${'0'.repeat(56)}`;
      table.put({
        id, podId: `pod${i % RECORD_PODS}`, metadata: { name: `c${i}`, attempt: 0 }, phase: 'ready', state: 'CONTAINER_EXITED',
        image: 'registry.example/app:v1', imageRef: 'registry.example/app@sha256:00', imageId: 'sha256:00',
        labels: { app: `a${i % 10}`, 'io.kubernetes.pod.name': `pod${i % RECORD_PODS}` }, annotations: { note: 'x'.repeat(64) },
        createdAt: '1700000000000000000', startedAt: '1700000000000000000', finishedAt: '1700000001000000000', exitCode: 0, reason: 'Completed', message: '', pid: 0,
        logPath: `/var/log/pods/p/c${i}.log`, runtimeHandler: '', containerDir: join(dirs.root, 'containers', id),
        mounts: [], resources: null, user: { uid: 0, gid: 0, groups: [0] }, stopSignal: 'SIGTERM', tty: false, stdin: false,
      });
    }
  });
  store.close();
  const daemon = await TestDaemon.start({ dirs, logLevel: 'warn' });
  try {
    const all: number[] = [];
    const byPod: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      all.push((await timeMs(() => daemon.client.runtime('ListContainers', {})))[0]);
      byPod.push((await timeMs(() => daemon.client.runtime('ListContainers', { filter: { pod_sandbox_id: `pod${i % RECORD_PODS}` } })))[0]);
    }
    metric('list_containers_900_p50', percentile(all, 50), 'ms');
    metric('list_containers_900_p99', percentile(all, 99), 'ms');
    metric('list_containers_900_by_pod_p50', percentile(byPod, 50), 'ms');
    metric('list_containers_900_by_pod_p99', percentile(byPod, 99), 'ms');
  } finally {
    await daemon.stop();
    removeTestDirs(dirs);
  }
}

export async function run(): Promise<void> {
  await listAtScale();
  const fx = await ContainerFixture.start({ bench: { Cmd: ['sleep', '100000'] } });
  const floorDir = join(fx.dirs.base, 'floor');
  try {
    const pod = await fx.runPod();
    const mem0 = memoryMiB(fx.daemon.pid, fx.dirs.state);

    const startSamples: number[] = [];
    const stopSamples: number[] = [];
    let template: OciSpec | undefined;
    for (let i = 0; i < N; i++) {
      const [ms, id] = await timeMs(() => fx.run(pod, 'bench', { metadata: { name: `s${i}` } }));
      startSamples.push(ms);
      if (!template) template = JSON.parse((await fx.client.runtime('ContainerStatus', { container_id: id, verbose: true })).info!.info!).runtimeSpec as OciSpec;
      const [stopMs] = await timeMs(async () => {
        await fx.client.runtime('StopContainer', { container_id: id, timeout: 0 });
        await fx.client.runtime('RemoveContainer', { container_id: id });
      });
      stopSamples.push(stopMs);
    }

    // The floor: the daemon's own spec for this container, on a plain directory rootfs.
    const floor = new RuncCreateStartFloor(floorDir, template!, fx.cgroupRoot);
    const floorSamples: number[] = [];
    for (let i = 0; i < N; i++) floorSamples.push(await floor.sample());
    compare('container_create_start_p50', percentile(startSamples, 50), percentile(floorSamples, 50), 'ms');
    compare('container_create_start_p95', percentile(startSamples, 95), percentile(floorSamples, 95), 'ms');
    metric('container_stop_remove_p50', percentile(stopSamples, 50), 'ms');

    let mem50 = { total: 0, conmons: 0 };
    const ids: string[] = [];
    for (let i = 0; i < RUNNING; i++) {
      ids.push(await fx.run(pod, 'bench', { metadata: { name: `r${i}` } }));
      if (i + 1 === 50) mem50 = memoryMiB(fx.daemon.pid, fx.dirs.state);
    }
    const mem100 = memoryMiB(fx.daemon.pid, fx.dirs.state);

    const list: number[] = [];
    const status: number[] = [];
    const version: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      list.push((await timeMs(() => fx.client.runtime('ListContainers', {})))[0]);
      status.push((await timeMs(() => fx.client.runtime('ContainerStatus', { container_id: ids[i % ids.length]! })))[0]);
      version.push((await timeMs(() => fx.client.runtime('Version', {})))[0]);
    }
    metric('list_containers_100_p50', percentile(list, 50), 'ms');
    metric('list_containers_100_p99', percentile(list, 99), 'ms');
    metric('container_status_100_p50', percentile(status, 50), 'ms');
    metric('container_status_100_p99', percentile(status, 99), 'ms');
    metric('version_roundtrip_p50', percentile(version, 50), 'ms');
    metric('memory_pss_0_containers', mem0.total, 'MiB');
    metric('memory_pss_50_containers', mem50.total, 'MiB');
    metric('memory_pss_100_containers', mem100.total, 'MiB');
    metric('memory_pss_per_container', (mem100.total - mem0.total) / RUNNING, 'MiB');
    metric('conmon_processes_at_100', mem100.conmons, 'count');
  } finally {
    await fx.destroy();
    rmSync(floorDir, { recursive: true, force: true });
  }
}
