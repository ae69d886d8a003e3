/**
 * Nothing accumulates: 1,000 pod+container cycles (run, create, start, stop, remove) with every
 * leak counter of test/helpers/leaks.ts and the daemon's RSS before and after; then 20 SIGKILLs
 * of the daemon at random points of run/create/start, each followed by a restart and the
 * removal of every pod through CRI, and what was left (the floor is zero).
 * RUNCRI_BENCH_CYCLES overrides the number of cycles; RUNCRI_TEST_SEED replays the kill points.
 */
import { ContainerFixture } from '../test/helpers/container-fixture.js';
import { killMidCycle, leakScope, podContainerCycle, removeAllPods } from '../test/helpers/cycles.js';
import { countLeaks, growth, LEAK_KINDS, rssBytes, type LeakCounts } from '../test/helpers/leaks.js';
import { seededRandom, testSeed } from '../test/helpers/random.js';
import { metric, percentile, timeMs } from './report.js';

const CYCLES = Number(process.env.RUNCRI_BENCH_CYCLES) || 1000;
const WARMUP = 10;
const KILLS = 20;

function mib(bytes: number): number {
  return bytes / 2 ** 20;
}

/** Counters as metric lines; returns the total of what grew over `baseline`. */
function reportGrowth(prefix: string, baseline: LeakCounts, now: LeakCounts): number {
  const grown = growth(baseline, now);
  let total = 0;
  for (const kind of LEAK_KINDS) {
    const n = grown[kind]?.length ?? 0;
    total += n;
    metric(`${prefix}_${kind}`, n, 'count');
    if (n > 0) process.stderr.write(`${prefix} ${kind}: ${grown[kind]!.slice(0, 5).join(', ')}\n`);
  }
  metric(`${prefix}_total`, total, 'count');
  return total;
}

async function settle(): Promise<void> {
  // Killed processes are reaped and conmons write their exits a moment later.
  await new Promise((r) => setTimeout(r, 2000));
}

export async function run(): Promise<void> {
  const fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '100000'] } });
  try {
    const scope = leakScope(fx);
    const empty = countLeaks(scope);
    for (let i = 0; i < WARMUP; i++) await podContainerCycle(fx, 'plain', i);
    const rssBefore = rssBytes(fx.daemon.pid);
    const samples: number[] = [];
    const rssSeen: number[] = [];
    for (let i = WARMUP; i < WARMUP + CYCLES; i++) {
      samples.push((await timeMs(() => podContainerCycle(fx, 'plain', i)))[0]);
      if ((i - WARMUP + 1) % 50 === 0) rssSeen.push(mib(rssBytes(fx.daemon.pid)));
    }
    // The shape tells a leak (a steady climb) from V8 settling on a heap size (a plateau).
    process.stderr.write(`daemon RSS every 50 cycles (MiB): ${rssSeen.map((r) => r.toFixed(1)).join(' ')}\n`);
    await settle();
    const rssAfter = rssBytes(fx.daemon.pid);
    metric('cycles', CYCLES, 'count');
    metric('cycle_p50', percentile(samples, 50), 'ms');
    metric('cycle_p99', percentile(samples, 99), 'ms');
    metric('daemon_rss_before_cycles', mib(rssBefore), 'MiB');
    metric('daemon_rss_after_cycles', mib(rssAfter), 'MiB');
    metric('daemon_rss_growth_per_100_cycles', (mib(rssAfter - rssBefore) * 100) / CYCLES, 'MiB');
    reportGrowth('left_after_cycles', empty, countLeaks(scope));

    // Kill points spread over the whole of run + create + start (and a little past it).
    const random = seededRandom(testSeed(13));
    const withinMs = Math.ceil(percentile(samples, 50) * 1.2);
    const rssBeforeKills = rssBytes(fx.daemon.pid);
    const delays: number[] = [];
    const found = { pods: 0, containers: 0 };
    for (let k = 0; k < KILLS; k++) {
      delays.push(await killMidCycle(fx, 'plain', WARMUP + CYCLES + k, random, withinMs));
      const seen = await removeAllPods(fx.client);
      found.pods += seen.pods;
      found.containers += seen.containers;
    }
    await settle();
    metric('sigkills', KILLS, 'count');
    metric('sigkill_delay_min', Math.min(...delays), 'ms');
    metric('sigkill_delay_max', Math.max(...delays), 'ms');
    // Kills before RunPodSandbox ended leave no pod to find; later ones a pod, with or without its container.
    metric('sigkill_pods_found_after_restart', found.pods, 'count');
    metric('sigkill_containers_found_after_restart', found.containers, 'count');
    metric('daemon_rss_after_kills_fresh_daemon', mib(rssBytes(fx.daemon.pid)), 'MiB');
    metric('daemon_rss_before_kills', mib(rssBeforeKills), 'MiB');
    reportGrowth('left_after_kills', empty, countLeaks(scope));
  } finally {
    await fx.destroy();
  }
}
