/**
 * The daemon's memory through a load: resident and proportional set size idle (3 s after it
 * starts answering), at 50 running containers in 10 pods, and 12 s after all of them were
 * removed; then the same round again. The floor for idle: a bare grpc-js server with the
 * daemon's V8 flags; for after the load, idle.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ContainerFixture } from '../test/helpers/container-fixture.js';
import { TestDaemon } from '../test/helpers/daemon.js';
import { DAEMON_NODE_FLAGS } from '../lib/cli/node-flags.js';
import { stopChild, timeToFirstAnswer } from './first-answer.js';
import { compare, metric, pssKiB, rssKiB } from './report.js';

const PODS = 10;
const CONTAINERS = 50;
const FLOOR_SERVER = join(dirname(fileURLToPath(import.meta.url)), 'floor-server.js');
const read = (p: string) => readFileSync(p, 'utf8');

function memoryMiB(pid: number): { rss: number; pss: number; anon: number } {
  const anon = /^RssAnon:\s+(\d+) kB/m.exec(read(`/proc/${pid}/status`));
  return { rss: rssKiB(pid, read) / 1024, pss: pssKiB(pid, read) / 1024, anon: anon ? Number(anon[1]) / 1024 : Number.NaN };
}

export async function run(): Promise<void> {
  const fx = await ContainerFixture.start({ base: { Cmd: ['sleep', '100000'] } });
  try {
    // A fresh daemon on the same root: what the fixture's pulls left in the heap does not count as idle.
    await fx.daemon.stop();
    fx.daemon = await TestDaemon.start({ dirs: fx.dirs, logLevel: 'warn' });
    await sleep(3000);
    const idle = memoryMiB(fx.daemon.pid);

    // Two rounds: what the first leaves and the second does not add is code compiled on first
    // use (warm-up), not memory held per container.
    const load = async () => {
      const pods = [];
      for (let i = 0; i < PODS; i++) pods.push(await fx.runPod());
      for (let i = 0; i < CONTAINERS; i++) await fx.run(pods[i % PODS]!, 'base', { metadata: { name: `c${i}` } });
      await fx.client.runtime('ListContainerStats', {});
      const loaded = memoryMiB(fx.daemon.pid);
      for (const pod of pods) await fx.removePod(pod.id);
      // Long enough for V8 to collect what the round left on an idle daemon.
      await sleep(12_000);
      return { loaded, after: memoryMiB(fx.daemon.pid) };
    };
    const { loaded, after } = await load();
    const second = await load();

    const socket = join(fx.dirs.base, 'floor.sock');
    const { child } = await timeToFirstAnswer([process.execPath, ...DAEMON_NODE_FLAGS, FLOOR_SERVER, 'grpc-js', socket], socket, '/runtime.v1.RuntimeService/ListContainers');
    await sleep(3000);
    const floor = memoryMiB(child.pid!);
    await stopChild(child);

    compare('daemon_idle_rss', idle.rss, floor.rss, 'MiB');
    metric('daemon_idle_rss_goal', 50, 'MiB');
    metric('daemon_idle_pss', idle.pss, 'MiB');
    metric('daemon_rss_at_50_containers', loaded.rss, 'MiB');
    metric('daemon_pss_at_50_containers', loaded.pss, 'MiB');
    compare('daemon_rss_after_all_removed', after.rss, idle.rss, 'MiB');
    metric('daemon_pss_after_all_removed', after.pss, 'MiB');
    metric('daemon_rss_anon_idle', idle.anon, 'MiB');
    metric('daemon_rss_anon_after_all_removed', after.anon, 'MiB');
    metric('daemon_rss_at_50_containers_second_round', second.loaded.rss, 'MiB');
    compare('daemon_rss_after_second_round', second.after.rss, after.rss, 'MiB');
    metric('daemon_rss_anon_after_second_round', second.after.anon, 'MiB');
  } finally {
    await fx.destroy();
  }
}
