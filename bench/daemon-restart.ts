/**
 * A restart on a busy node: 100 running containers in 25 pods (each on a bridge network of
 * this run's own) and 50 images, then the daemon stopped and started 10 times, each time timed
 * from its spawn to the first ListContainers answered OK (which waits for recovery). Floors in
 * the same run, rounds alternated: a bare grpc-js server and Node's own HTTP/2 server on the
 * daemon's socket path, with its V8 flags, timed the same way. Also the daemon's memory 2 s
 * after a restart.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerFixture, fullBusybox } from '../test/helpers/container-fixture.js';
import { TestDaemon, daemonArgs } from '../test/helpers/daemon.js';
import { DAEMON_NODE_FLAGS } from '../lib/cli/node-flags.js';
import { buildImage, makeLayer, pushImage } from '../test/helpers/oci-image.js';
import { stopChild, timeToFirstAnswer } from './first-answer.js';
import { compare, metric, percentile, pssKiB, rssKiB } from './report.js';

const PODS = 25;
const CONTAINERS = 100;
const IMAGES = 50;
const RESTARTS = 10;
const LIST = '/runtime.v1.RuntimeService/ListContainers';
const FLOOR_SERVER = join(dirname(fileURLToPath(import.meta.url)), 'floor-server.js');

/** One start of a floor server on the daemon's socket path, timed like the daemon's. */
async function floorSample(mode: 'http2' | 'grpc-js', socket: string): Promise<number> {
  const { child, ms } = await timeToFirstAnswer([process.execPath, ...DAEMON_NODE_FLAGS, FLOOR_SERVER, mode, socket], socket, LIST);
  await stopChild(child);
  return ms;
}

export async function run(): Promise<void> {
  const fx = await ContainerFixture.start({ base: { Cmd: ['sleep', '100000'] } });
  try {
    // 50 images: each the busybox base and a small layer of its own.
    const base = await makeLayer(fullBusybox());
    const images: string[] = [];
    for (let i = 0; i < IMAGES; i++) {
      const own = await makeLayer([{ path: 'etc/', type: 'directory' }, { path: 'etc/image-id', content: `${i}\n` }]);
      await pushImage(fx.registry.host, `test/many${i}`, 'v1', buildImage([base, own], { config: { Cmd: ['sleep', '100000'] } }));
      images.push(`many${i}`);
      await fx.client.image('PullImage', { image: { image: fx.image(`many${i}`) } });
    }
    const pods = [];
    for (let i = 0; i < PODS; i++) pods.push(await fx.runPod());
    for (let i = 0; i < CONTAINERS; i++) await fx.run(pods[i % PODS]!, images[i % IMAGES]!, { metadata: { name: `c${i}` } });

    await fx.daemon.stop();
    // Rounds alternate between the daemon and its floors: the machine's noise falls on all alike.
    const samples: number[] = [];
    const http2Floor: number[] = [];
    const grpcFloor: number[] = [];
    let memory = { rss: 0, pss: 0 };
    for (let i = 0; i < RESTARTS; i++) {
      const { child, ms } = await timeToFirstAnswer([process.execPath, ...daemonArgs(fx.dirs, { logLevel: 'warn' })], fx.dirs.socket, LIST);
      samples.push(ms);
      if (i === RESTARTS - 1) {
        await sleep(2000);
        const read = (p: string) => readFileSync(p, 'utf8');
        memory = { rss: rssKiB(child.pid!, read) / 1024, pss: pssKiB(child.pid!, read) / 1024 };
      }
      await stopChild(child);
      grpcFloor.push(await floorSample('grpc-js', fx.dirs.socket));
      http2Floor.push(await floorSample('http2', fx.dirs.socket));
    }

    fx.daemon = await TestDaemon.start({ dirs: fx.dirs, logLevel: 'warn' });
    const running = (await fx.client.runtime('ListContainers', { filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers ?? [];
    metric('restart_running_containers_after', running.length, 'containers');
    // The floor: a bare grpc-js server (what the daemon serves with) on the same socket path.
    compare('restart_first_answer_p50', percentile(samples, 50), percentile(grpcFloor, 50), 'ms');
    compare('restart_first_answer_p90', percentile(samples, 90), percentile(grpcFloor, 90), 'ms');
    metric('restart_first_answer_goal', 300, 'ms');
    metric('http2_server_first_answer_p50', percentile(http2Floor, 50), 'ms');
    metric('restart_daemon_rss_after_2s', memory.rss, 'MiB');
    metric('restart_daemon_pss_after_2s', memory.pss, 'MiB');
    if (running.length !== CONTAINERS) process.exitCode = 1;
  } finally {
    await fx.destroy();
  }
}
