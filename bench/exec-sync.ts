/**
 * ExecSync under a burst: 10,000 calls sent at once to one container, each printing a seeded,
 * known output (a few lines for most, several pipe buffers for some), against the floor of
 * `runc exec` of the same commands run by hand. Reports the bytes lost (must be 0), the
 * answers' latency, the throughput, the Version round trip meanwhile and the daemon's memory.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ContainerFixture } from '../test/helpers/container-fixture.js';
import { lostBytes, planExecs } from '../test/helpers/exec-workload.js';
import { testSeed } from '../test/helpers/random.js';
import type { OciSpec } from '../lib/oci/index.js';
import { compare, metric, percentile, rssKiB, timeMs } from './report.js';
import { readFileSync, writeFileSync } from 'node:fs';

const CALLS = 10_000;
const FLOOR_SAMPLES = 200;
/** Every call is sent at once and waits its turn: the last answers only after all others. */
const DEADLINE_MS = 30 * 60_000;

/** `runc exec` of a process spec, output discarded; resolves with its latency. */
function runcExec(root: string, id: string, processFile: string): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/sbin/runc', [`--root=${root}`, 'exec', '--process', processFile, id], { stdio: ['ignore', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error(`runc exec exited ${code}`))));
  });
}

export async function run(): Promise<void> {
  const seed = testSeed(10_000);
  const fx = await ContainerFixture.start({ bench: { Cmd: ['sleep', '100000'] } });
  try {
    const pod = await fx.runPod();
    const id = await fx.run(pod, 'bench', { metadata: { name: 'exec' } });
    const plans = planExecs(CALLS, seed);

    const versions: number[] = [];
    let rssPeak = 0;
    let done = false;
    const watcher = (async () => {
      while (!done) {
        versions.push((await timeMs(() => fx.client.runtime('Version', {})))[0]);
        rssPeak = Math.max(rssPeak, rssKiB(fx.daemon.pid, (p) => readFileSync(p, 'utf8')));
        await new Promise((r) => setTimeout(r, 50));
      }
    })().catch(() => undefined);
    const latencies: number[] = [];
    const execSync = async (cmd: string[]) => {
      const r = await fx.client.runtime('ExecSync', { container_id: id, cmd, timeout: 600 }, { deadlineMs: DEADLINE_MS });
      return { exitCode: r.exit_code ?? 0, stdout: Buffer.from(r.stdout ?? []).toString(), stderr: Buffer.from(r.stderr ?? []).toString() };
    };
    let wallMs: number;
    let answers: Awaited<ReturnType<typeof execSync>>[];
    try {
      [wallMs, answers] = await timeMs(() => Promise.all(plans.map(async (p) => {
        const [ms, answer] = await timeMs(() => execSync(p.cmd));
        latencies.push(ms);
        return answer;
      })));
    } finally {
      done = true;
      await watcher;
    }
    const lost = plans.reduce((n, p, i) => n + lostBytes(p, answers[i]!), 0);
    const wrong = plans.filter((p, i) => lostBytes(p, answers[i]!) > 0).length;

    // The floor: the same commands through `runc exec` by hand, one at a time (no queue, no gRPC).
    const spec = JSON.parse((await fx.client.runtime('ContainerStatus', { container_id: id, verbose: true })).info!.info!).runtimeSpec as OciSpec;
    const floor: number[] = [];
    for (let i = 0; i < FLOOR_SAMPLES; i++) {
      const file = join(fx.dirs.base, `floor-process-${i % 2}.json`);
      writeFileSync(file, JSON.stringify({ ...spec.process, args: plans[i]!.cmd, terminal: false }));
      floor.push(await runcExec(join(fx.dirs.state, 'runc'), id, file));
    }

    metric('exec_sync_10000_seed', seed, 'seed');
    metric('exec_sync_10000_lost_bytes', lost, 'bytes');
    metric('exec_sync_10000_wrong_answers', wrong, 'calls');
    metric('exec_sync_10000_wall', wallMs / 1000, 's');
    metric('exec_sync_10000_throughput', CALLS / (wallMs / 1000), 'calls/s');
    compare('exec_sync_10000_per_call', wallMs / CALLS, percentile(floor, 50), 'ms');
    metric('exec_sync_10000_latency_p50', percentile(latencies, 50), 'ms');
    metric('exec_sync_10000_latency_p99', percentile(latencies, 99), 'ms');
    metric('exec_sync_10000_version_p50', percentile(versions, 50), 'ms');
    metric('exec_sync_10000_version_p99', percentile(versions, 99), 'ms');
    metric('exec_sync_10000_daemon_rss_peak', rssPeak / 1024, 'MiB');
    if (lost > 0) process.exitCode = 1;
  } finally {
    await fx.destroy();
  }
}
