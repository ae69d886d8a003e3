/**
 * Exec and port-forward through the streaming server against their floors in the same run:
 * exec round trip (`true`) through the URL vs `runc exec true` alone; exec stdout throughput
 * (256 MiB) vs `runc exec` of the same command into /dev/null; port-forward throughput vs a
 * direct TCP connection to the pod's IP (its own bridge network, made by this run).
 */
import { openSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { ContainerFixture } from '../test/helpers/container-fixture.js';
import { spdyCommand, spdyConnect } from '../test/helpers/streaming-client.js';
import type { SpdySession } from '../lib/streaming/spdy/index.js';
import { compare, percentile, timeMs } from './report.js';
import { runc } from './runc-floor.js';

const ROUND_TRIPS = 40;
const EXEC_BYTES = 256 * 1024 * 1024;
const FORWARD_BYTES = 128 * 1024 * 1024;
const RUNS = 3;
const MIB = 1024 * 1024;

/** Reads an exec's stdout to its end over SPDY, counting bytes without keeping them. */
async function execCount(url: string): Promise<number> {
  const c = await spdyConnect(url, ['v4.channel.k8s.io']);
  if (!('session' in c)) throw new Error(`upgrade refused: ${c.status}`);
  const error = await c.session.openStream(new Map([['streamtype', ['error']]]));
  const stdout = await c.session.openStream(new Map([['streamtype', ['stdout']]]));
  error.resume();
  let n = 0;
  stdout.on('data', (d: Buffer) => (n += d.length));
  await new Promise((r) => stdout.once('end', r));
  c.session.close();
  return n;
}

/** Reads `bytes` from a readable, then stops. */
function readCount(source: NodeJS.ReadableStream, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let n = 0;
    source.on('data', (d: Buffer) => {
      n += d.length;
      if (n >= bytes) resolve();
    });
    source.once('error', reject);
    source.once('end', () => (n >= bytes ? resolve() : reject(new Error(`stream ended after ${n} of ${bytes} bytes`))));
  });
}

async function forwardOnce(session: SpdySession, id: number): Promise<void> {
  const headers = (type: string) => new Map([['streamtype', [type]], ['port', ['8080']], ['requestid', [String(id)]]]);
  const error = await session.openStream(headers('error'));
  const data = await session.openStream(headers('data'));
  error.resume();
  await readCount(data, FORWARD_BYTES);
  data.destroy();
  error.destroy();
}

function directOnce(ip: string): Promise<void> {
  const socket = connect({ host: ip, port: 8080 });
  return readCount(socket, FORWARD_BYTES).finally(() => socket.destroy());
}

/** The zero server restarts after each connection; give it a moment between runs. */
const settle = () => new Promise((r) => setTimeout(r, 200));

export async function run(): Promise<void> {
  const fx = await ContainerFixture.start({
    sleeper: { Cmd: ['sleep', '3600'] },
    zeros: { Cmd: ['sh', '-c', 'while true; do nc -l -p 8080 < /dev/zero; done'] },
  });
  try {
    const info = await fx.client.runtime('Status', { verbose: true });
    const runcRoot = (JSON.parse(info.info!.config!) as { runtimes: Record<string, { root: string }> }).runtimes.runc!.root;
    const pod = await fx.runPod();
    const ctr = await fx.run(pod, 'sleeper');
    const execUrl = async (cmd: string[]) => (await fx.client.runtime('Exec', { container_id: ctr, cmd, stdout: true })).url!;

    const viaUrl: number[] = [];
    const viaRunc: number[] = [];
    for (let i = 0; i < ROUND_TRIPS; i++) {
      viaUrl.push((await timeMs(async () => spdyCommand(await execUrl(['true']), {})))[0]);
      viaRunc.push((await timeMs(() => runc(runcRoot, ['exec', ctr, 'true'])))[0]);
    }
    compare('exec_roundtrip_p50', percentile(viaUrl, 50), percentile(viaRunc, 50), 'ms');
    compare('exec_roundtrip_p99', percentile(viaUrl, 99), percentile(viaRunc, 99), 'ms');

    const cmd = ['head', '-c', String(EXEC_BYTES), '/dev/zero'];
    let best = Infinity;
    let bestFloor = Infinity;
    for (let i = 0; i < RUNS; i++) {
      const [ms, n] = await timeMs(async () => execCount(await execUrl(cmd)));
      if (n !== EXEC_BYTES) throw new Error(`exec delivered ${n} of ${EXEC_BYTES} bytes`);
      best = Math.min(best, ms);
      const devNull = openSync('/dev/null', 'w');
      try {
        bestFloor = Math.min(bestFloor, (await timeMs(() => runc(runcRoot, ['exec', ctr, ...cmd], devNull)))[0]);
      } finally {
        closeSync(devNull);
      }
    }
    compare('exec_stdout_throughput', EXEC_BYTES / MIB / (best / 1000), EXEC_BYTES / MIB / (bestFloor / 1000), 'MiB/s');

    const zpod = await fx.runPod();
    await fx.run(zpod, 'zeros');
    const ip = (await fx.client.runtime('PodSandboxStatus', { pod_sandbox_id: zpod.id })).status!.network!.ip!;
    await settle();
    const url = (await fx.client.runtime('PortForward', { pod_sandbox_id: zpod.id, port: [8080] })).url!;
    const c = await spdyConnect(url, ['portforward.k8s.io']);
    if (!('session' in c)) throw new Error(`upgrade refused: ${c.status}`);
    let fwd = Infinity;
    let direct = Infinity;
    for (let i = 0; i < RUNS; i++) {
      fwd = Math.min(fwd, (await timeMs(() => forwardOnce(c.session, i + 1)))[0]);
      await settle();
      direct = Math.min(direct, (await timeMs(() => directOnce(ip)))[0]);
      await settle();
    }
    c.session.close();
    compare('portforward_throughput', FORWARD_BYTES / MIB / (fwd / 1000), FORWARD_BYTES / MIB / (direct / 1000), 'MiB/s');
  } finally {
    await fx.destroy();
  }
}
