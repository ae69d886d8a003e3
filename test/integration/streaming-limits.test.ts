/**
 * The daemon's memory stays bounded while clients do their worst on the streaming server and
 * the CRI socket: a SPDY header that inflates to 256 MiB, a WebSocket message of 300 MiB in
 * fragments, HPACK that decodes to 240 MB, and a thousand idle streaming connections. RSS is
 * read from /proc while each runs; the ceilings are growth over the daemon's own RSS before.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { spdyCommand, spdyConnect, spdyForward, upgradeRequest } from '../helpers/streaming-client.js';
import { RawHeaderDeflater, oneHeaderPrefix, synStream } from '../helpers/spdy-raw.js';
import { FrameParser, RstStatus, encodeFrame, type Frame } from '../../lib/streaming/spdy/index.js';
import { Opcode, WsFrameParser, encodeWsFrame, type WsFrame } from '../../lib/streaming/websocket/index.js';
import { CLIENT_PREFACE, encodeLiteralHeaderBlock } from '../../lib/server/h2-authority-filter.js';
import { StreamingLimits } from '../../lib/streaming/limits.js';

const MiB = 1024 * 1024;
/** What one hostile client may add to the daemon's RSS. */
const ONE_CLIENT_CEILING = 64 * MiB;
/** What a thousand idle streaming connections may add. */
const IDLE_CONNECTIONS_CEILING = 160 * MiB;
const IDLE_SECONDS = 4;

let fx: ContainerFixture;
let pod: { id: string; config: import('../../lib/generated/runtime/v1/PodSandboxConfig.js').PodSandboxConfig };
let ctr: string;

before(async () => {
  fx = await ContainerFixture.start(
    { limits: { Cmd: ['sh', '-c', 'nc -ll -p 8080 -e cat & exec sleep 3600'] } },
    { toml: `[streaming]\nstream_creation_timeout_seconds = ${IDLE_SECONDS}\n` },
  );
  pod = await fx.runPod();
  ctr = await fx.run(pod, 'limits');
  // Warm the paths the tests take, so their first use is not counted as growth.
  const warm = await spdyCommand(await execUrl(['true']), {});
  assert.match(warm.error, /Success/);
});

after(async () => {
  await fx?.destroy();
});

async function execUrl(cmd: string[], stdin = false): Promise<string> {
  return (await fx.client.runtime('Exec', { container_id: ctr, cmd, stdin, stdout: !stdin, stderr: false, tty: false })).url!;
}

async function forwardUrl(): Promise<string> {
  return (await fx.client.runtime('PortForward', { pod_sandbox_id: pod.id, port: [] })).url!;
}

function daemonRss(): number {
  const line = readFileSync(`/proc/${fx.daemon.pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

/** Samples the daemon's RSS every 10 ms while `work` runs: the baseline before, and the peak. */
async function watchRss<T>(work: () => Promise<T>): Promise<{ result: T; baseline: number; peak: number }> {
  const baseline = daemonRss();
  let peak = baseline;
  const timer = setInterval(() => (peak = Math.max(peak, daemonRss())), 10);
  try {
    const result = await work();
    peak = Math.max(peak, daemonRss());
    return { result, baseline, peak };
  } finally {
    clearInterval(timer);
  }
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

async function daemonStillServes(): Promise<void> {
  assert.ok((await fx.client.runtime('Version', {})).runtime_name);
  const r = await spdyCommand(await execUrl(['echo', 'still here']), {});
  assert.equal(r.stdout.toString(), 'still here\n');
}

test('a SPDY header of 256 MiB in 261 KB of deflate is refused with RST_STREAM and GOAWAY; the daemon does not grow', async (t) => {
  const deflater = new RawHeaderDeflater();
  const bomb = await deflater.block({ prefix: oneHeaderPrefix('x', 256 * MiB), fill: 0x61, bytes: 256 * MiB });
  deflater.close();
  t.diagnostic(`header bomb: ${bomb.length} bytes on the wire`);
  const up = await upgradeRequest(await execUrl(['true']), { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'v4.channel.k8s.io' });
  assert.equal(up.status, 101);
  const { baseline, peak, result: frames } = await watchRss(async () => {
    const parser = new FrameParser();
    const frames: Frame[] = [];
    up.socket.on('data', (c: Buffer) => frames.push(...parser.push(c)));
    up.socket.on('error', () => undefined);
    up.socket.resume();
    up.socket.write(synStream(1, bomb));
    await new Promise((r) => up.socket.once('close', r));
    return frames;
  });
  t.diagnostic(`daemon RSS ${mib(baseline)} before, peak ${mib(peak)} (+${mib(peak - baseline)})`);
  assert.ok(frames.some((f) => f.kind === 'rst_stream' && f.streamId === 1 && f.status === RstStatus.FRAME_TOO_LARGE));
  assert.ok(frames.some((f) => f.kind === 'goaway' && f.status === 1));
  assert.ok(peak - baseline < ONE_CLIENT_CEILING, `the daemon grew by ${mib(peak - baseline)}`);
  await daemonStillServes();
});

test('a WebSocket message of 300 fragments of 1 MiB is cut off with 1009 at the cap; the daemon does not grow', async (t) => {
  const key = randomBytes(16).toString('base64');
  const up = await upgradeRequest(await execUrl(['sh', '-c', 'cat >/dev/null'], true), {
    Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Protocol': 'v5.channel.k8s.io',
  });
  assert.equal(up.status, 101);
  const { baseline, peak, result } = await watchRss(async () => {
    const back = new WsFrameParser(false, 16 * MiB);
    const frames: WsFrame[] = [];
    up.socket.on('data', (c: Buffer) => frames.push(...back.push(c)));
    up.socket.on('error', () => undefined);
    up.socket.resume();
    // A client that reads the server's close stops sending, as this one does.
    const closeSeen = () => frames.some((f) => f.opcode === Opcode.CLOSE) || up.socket.destroyed;
    const fragment = Buffer.alloc(MiB, 0x41);
    fragment[0] = 0; // channel 0, stdin
    let sent = 0;
    for (let i = 0; i < 300 && !closeSeen(); i++) {
      const ok = up.socket.write(encodeWsFrame(i === 0 ? Opcode.BINARY : Opcode.CONTINUATION, fragment, { fin: false, mask: randomBytes(4) }));
      sent += fragment.length;
      if (!ok) while (up.socket.writableLength > 0 && !closeSeen()) await new Promise((r) => setTimeout(r, 5));
    }
    for (const deadline = Date.now() + 5000; !closeSeen() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
    up.socket.destroy();
    return { frames, sent };
  });
  t.diagnostic(`sent ${mib(result.sent)} before the close; daemon RSS ${mib(baseline)} before, peak ${mib(peak)} (+${mib(peak - baseline)})`);
  const close = result.frames.find((f) => f.opcode === Opcode.CLOSE);
  assert.equal(close?.payload.readUInt16BE(0), 1009);
  assert.ok(result.sent < 300 * MiB, 'the daemon stopped reading long before the end');
  assert.ok(peak - baseline < ONE_CLIENT_CEILING, `the daemon grew by ${mib(peak - baseline)}`);
  await daemonStillServes();
});

test('64 KiB of HPACK that decodes to 240 MB drops that CRI connection only; the daemon does not grow', async (t) => {
  const request = encodeLiteralHeaderBlock([
    { name: ':method', value: 'POST' }, { name: ':scheme', value: 'http' }, { name: ':path', value: '/runtime.v1.RuntimeService/Version' }, { name: ':authority', value: '/run/runcri/runcri.sock' },
  ]);
  const value = Buffer.alloc(4000, 0x61);
  const addToTable = Buffer.concat([Buffer.from([0x40, 1, 0x78, 0x7f, (4000 - 127) % 128 | 0x80, Math.floor((4000 - 127) / 128)]), value]);
  const block = Buffer.concat([request, addToTable, Buffer.alloc(60_000, 0x80 | 62)]);
  const frames: Buffer[] = [CLIENT_PREFACE, Buffer.from('000000040000000000', 'hex')];
  for (let off = 0; off < block.length; off += 16384) {
    const piece = block.subarray(off, off + 16384);
    const head = Buffer.alloc(9);
    head.writeUIntBE(piece.length, 0, 3);
    head[3] = off === 0 ? 0x1 : 0x9;
    head[4] = off + 16384 >= block.length ? 0x4 : 0;
    head.writeUInt32BE(1, 5);
    frames.push(head, piece);
  }
  const { baseline, peak } = await watchRss(async () => {
    const sock: Socket = connect(fx.dirs.socket);
    sock.on('error', () => undefined);
    sock.resume();
    await new Promise((r) => sock.once('connect', r));
    sock.write(Buffer.concat(frames));
    await new Promise((r) => sock.once('close', r));
  });
  t.diagnostic(`daemon RSS ${mib(baseline)} before, peak ${mib(peak)} (+${mib(peak - baseline)})`);
  assert.ok(peak - baseline < ONE_CLIENT_CEILING, `the daemon grew by ${mib(peak - baseline)}`);
  await daemonStillServes();
});

test('forwarded connections past the per-connection cap get the error on their error stream, not a hang', async (t) => {
  const c = await spdyConnect(await forwardUrl(), ['portforward.k8s.io']);
  assert.ok('session' in c);
  const cap = StreamingLimits.forwardsPerConnection;
  const started = Date.now();
  // One at a time, each proven connected by its echo, so that exactly `cap` hold a slot.
  for (let i = 0; i < cap; i++) {
    const h: [string, string[]][] = [['port', ['8080']], ['requestid', [`held-${i}`]]];
    await c.session.openStream(new Map([['streamtype', ['error']], ...h]));
    const data = await c.session.openStream(new Map([['streamtype', ['data']], ...h]));
    const echoed = new Promise((r) => data.once('data', r));
    data.write(`${i}\n`);
    await echoed;
  }
  t.diagnostic(`${cap} forwards (an nsenter+socat each) connected in ${Date.now() - started} ms`);
  const refused = await spdyForward(c.session, 8080, 'one-too-many', Buffer.from('x\n'));
  assert.match(refused.error, new RegExp(`too many forwarded connections on this streaming connection \\(the limit is ${cap}\\)`));
  assert.equal(refused.data.length, 0);
  // A second connection still has its own share.
  const other = await spdyConnect(await forwardUrl(), ['portforward.k8s.io']);
  assert.ok('session' in other);
  const ok = await spdyForward(other.session, 8080, 'other', Buffer.from('other\n'));
  assert.equal(ok.data.toString(), 'other\n');
  assert.equal(ok.error, '');
  other.session.close();
  c.session.close();
});

test('1,000 idle streaming connections and more: the cap answers 503, RSS stays under its ceiling, the idle timeout closes them all', async (t) => {
  const cap = StreamingLimits.connections;
  const attempts = cap + 8;
  const open: { socket: Socket; closed: Promise<number> }[] = [];
  let refused = 0;
  // Opening this many takes longer than the idle timeout: pings keep the first ones open, as kubectl's would.
  const ping = encodeFrame({ kind: 'ping', id: 1 });
  const keepAlive = setInterval(() => {
    for (const o of open) if (!o.socket.destroyed) o.socket.write(ping);
  }, 1000);
  const started = Date.now();
  try {
    const { baseline, peak } = await watchRss(async () => {
      for (let i = 0; i < attempts; i += 64) {
        await Promise.all(Array.from({ length: Math.min(64, attempts - i) }, async () => {
          const up = await upgradeRequest(await forwardUrl(), { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'portforward.k8s.io' });
          up.socket.on('error', () => undefined);
          if (up.status === 101) {
            up.socket.resume();
            open.push({ socket: up.socket, closed: new Promise<number>((r) => up.socket.once('close', () => r(Date.now()))) });
          } else {
            assert.equal(up.status, 503, up.body);
            assert.match(up.body, /too many streaming connections are open \(the limit is \d+\)/);
            refused++;
          }
        }));
      }
      // Let them sit, all open, for a moment.
      await new Promise((r) => setTimeout(r, 500));
    });
    t.diagnostic(`${open.length} upgraded and ${refused} refused in ${Date.now() - started} ms; daemon RSS ${mib(baseline)} before, peak ${mib(peak)} (+${mib(peak - baseline)})`);
    assert.ok(open.length >= 1000 && open.length <= cap, `${open.length} upgraded`);
    assert.equal(open.length + refused, attempts);
    assert.ok(open.every((o) => !o.socket.destroyed), 'none was closed while it pinged');
    assert.ok(peak - baseline < IDLE_CONNECTIONS_CEILING, `the daemon grew by ${mib(peak - baseline)}`);
  } finally {
    clearInterval(keepAlive);
  }
  const quietFrom = Date.now();
  const closedAt = await Promise.race([
    Promise.all(open.map((o) => o.closed)),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not all idle connections were closed')), (IDLE_SECONDS + 10) * 1000)),
  ]);
  t.diagnostic(`all closed by the daemon ${Math.max(...closedAt) - quietFrom} ms after they went quiet; daemon RSS after: ${mib(daemonRss())}`);
  assert.ok(Math.min(...closedAt) - quietFrom >= IDLE_SECONDS * 1000 - 1500, 'none closed long before the idle timeout');
  await daemonStillServes();
});
