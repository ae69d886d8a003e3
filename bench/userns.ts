/**
 * User namespaces against their floor: CreateContainer+StartContainer p50 of a container in a
 * user-namespaced pod (pinned user namespace, ID-mapped layer view, overlay from it) next to
 * the same container in a plain pod of the same daemon, in the same run, interleaved so both
 * see the same machine. Goal: the user namespace adds under 10%. The first container of a
 * user-namespaced pod also mounts the pod's layer view: that cost is reported on its own. The
 * crun handler is measured next to runc only where it can run here.
 */
import { chmodSync } from 'node:fs';
import { ContainerFixture } from '../test/helpers/container-fixture.js';
import { TestDaemon } from '../test/helpers/daemon.js';
import { compare, metric, percentile, timeMs } from './report.js';

const N = 30;
const MAP = { container_id: 0, host_id: 100000, length: 65536 };
const USERNS = { userns_options: { mode: 'POD' as const, uids: [MAP], gids: [MAP] } };

type Pod = Awaited<ReturnType<ContainerFixture['runPod']>>;

async function createStart(fx: ContainerFixture, pod: Pod, name: string, userns: boolean): Promise<number> {
  const [ms, id] = await timeMs(() => fx.run(pod, 'bench', { metadata: { name }, ...(userns ? { linux: { security_context: { namespace_options: USERNS } } } : {}) }));
  await fx.client.runtime('StopContainer', { container_id: id, timeout: 0 });
  await fx.client.runtime('RemoveContainer', { container_id: id });
  return ms;
}

export async function run(): Promise<void> {
  const fx = await ContainerFixture.start({ bench: { Cmd: ['sleep', '100000'] } });
  try {
    // The pods' root is an unprivileged ID on the node: it must be able to walk to the state dir.
    chmodSync(fx.dirs.base, 0o711);
    await fx.daemon.stop();
    fx.daemon = await TestDaemon.start({ dirs: fx.dirs, logLevel: 'warn' });

    const plainPod = await fx.runPod();
    const [podMs, usernsPod] = await timeMs(() => fx.runPod({ linux: { security_context: { namespace_options: USERNS } } }));
    const [plainPodMs] = await timeMs(() => fx.runPod());
    metric('userns_pod_run', podMs, 'ms');
    metric('userns_pod_run_floor_plain_pod', plainPodMs, 'ms');
    const firstMs = await createStart(fx, usernsPod, 'first', true);
    metric('userns_first_container_create_start', firstMs, 'ms');

    const userns: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < N; i++) {
      plain.push(await createStart(fx, plainPod, `p${i}`, false));
      userns.push(await createStart(fx, usernsPod, `u${i}`, true));
    }
    compare('userns_container_create_start_p50', percentile(userns, 50), percentile(plain, 50), 'ms');
    compare('userns_container_create_start_p95', percentile(userns, 95), percentile(plain, 95), 'ms');

    const status = await fx.client.runtime('Status', { verbose: true });
    const crun = (JSON.parse(status.info?.runtime_handlers ?? '[]') as { name: string; problem: string }[]).find((h) => h.name === 'crun');
    if (crun && !crun.problem) {
      const config = fx.podConfig();
      const res = await fx.client.runtime('RunPodSandbox', { config, runtime_handler: 'crun' });
      const crunPod = { id: res.pod_sandbox_id!, config };
      const onCrun: number[] = [];
      const onRunc: number[] = [];
      for (let i = 0; i < N; i++) {
        onRunc.push(await createStart(fx, plainPod, `r${i}`, false));
        onCrun.push(await createStart(fx, crunPod, `c${i}`, false));
      }
      compare('crun_container_create_start_p50', percentile(onCrun, 50), percentile(onRunc, 50), 'ms');
    } else {
      // Said in the output, not silently left out.
      process.stdout.write(`# crun not measured: ${crun ? crun.problem : 'not configured'}\n`);
    }
  } finally {
    await fx.destroy();
  }
}
