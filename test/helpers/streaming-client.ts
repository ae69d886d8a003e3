/**
 * Test clients for runcri's streaming server, speaking the wire as kubectl/crictl do: SPDY/3.1
 * (the project's own framer, used from the client side) and WebSocket (channel.k8s.io).
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SpdySession, type SpdyStream } from '../../lib/streaming/spdy/index.js';
import { WsConnection, acceptKey } from '../../lib/streaming/websocket/index.js';

export interface UpgradeResult {
  status: number;
  headers: Record<string, string>;
  socket: Socket;
  head: Buffer;
  body: string;
}

/** Sends one HTTP/1.1 request with upgrade headers and reads the response head. */
export function upgradeRequest(url: string, headers: Record<string, string | string[]>): Promise<UpgradeResult> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) });
    let buf = Buffer.alloc(0);
    const lines = [`GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`];
    for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
    socket.once('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    socket.once('error', reject);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      // bytes after the response head must wait for the session that will read them
      socket.pause();
      const [statusLine, ...rest] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const hdrs: Record<string, string> = {};
      for (const l of rest) {
        const i = l.indexOf(':');
        hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const status = Number(statusLine!.split(' ')[1]);
      const head = buf.subarray(end + 4);
      if (status === 101) return resolve({ status, headers: hdrs, socket, head, body: '' });
      let body = head.toString();
      socket.resume();
      socket.on('data', (d: Buffer) => (body += d.toString()));
      socket.once('close', () => resolve({ status, headers: hdrs, socket, head, body }));
    };
    socket.on('data', onData);
  });
}

export async function spdyConnect(url: string, protocols: string[]): Promise<{ session: SpdySession; protocol: string } | UpgradeResult> {
  const r = await upgradeRequest(url, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols });
  if (r.status !== 101) return r;
  return { session: new SpdySession(r.socket, 'client', r.head), protocol: r.headers['x-stream-protocol-version'] ?? '' };
}

export interface CommandResult {
  stdout: Buffer;
  stderr: Buffer;
  /** What came on the error stream (a Status JSON on v4/v5). */
  error: string;
}

export interface SpdyCommandOptions {
  stdin?: Buffer | AsyncIterable<Buffer> | 'open';
  stdout?: boolean;
  stderr?: boolean;
  tty?: boolean;
  /** Sent on the resize stream right after the streams are open. */
  resize?: { Width: number; Height: number };
  protocol?: string;
  /** Called once every stream is open: the streams, for tests that drive them by hand. */
  onOpen?: (streams: Map<string, SpdyStream>, session: SpdySession) => void;
}

function collect(stream: SpdyStream | undefined): Promise<Buffer> {
  if (!stream) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('close', () => resolve(Buffer.concat(parts)));
  });
}

/** Runs an exec/attach URL over SPDY the way kubectl does: error stream first, then the rest. */
export async function spdyCommand(url: string, o: SpdyCommandOptions): Promise<CommandResult> {
  const c = await spdyConnect(url, [o.protocol ?? 'v4.channel.k8s.io']);
  if (!('session' in c)) throw new Error(`upgrade refused: ${c.status} ${c.body}`);
  const { session } = c;
  const open = async (type: string) => session.openStream(new Map([['streamtype', [type]]]));
  const streams = new Map<string, SpdyStream>();
  streams.set('error', await open('error'));
  if (o.stdin) streams.set('stdin', await open('stdin'));
  if (o.stdout ?? true) streams.set('stdout', await open('stdout'));
  if (o.stderr && !o.tty) streams.set('stderr', await open('stderr'));
  if (o.tty && c.protocol !== 'v2.channel.k8s.io' && c.protocol !== 'channel.k8s.io') streams.set('resize', await open('resize'));
  const out = collect(streams.get('stdout'));
  const err = collect(streams.get('stderr'));
  const errText = collect(streams.get('error'));
  if (o.resize) streams.get('resize')?.write(JSON.stringify(o.resize));
  o.onOpen?.(streams, session);
  const stdin = streams.get('stdin');
  if (stdin && Buffer.isBuffer(o.stdin)) stdin.end(o.stdin);
  else if (stdin && o.stdin && o.stdin !== 'open') {
    const source = o.stdin;
    void (async () => {
      for await (const chunk of source) if (!stdin.write(chunk)) await new Promise((r) => stdin.once('drain', r));
      stdin.end();
    })();
  }
  const [stdout, stderr, error] = await Promise.all([out, err, errText]);
  session.close();
  return { stdout, stderr, error: error.toString() };
}

export async function wsConnect(url: string, protocols: string[]): Promise<{ conn: WsConnection; protocol: string } | UpgradeResult> {
  const key = randomBytes(16).toString('base64');
  const r = await upgradeRequest(url, {
    Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key,
    ...(protocols.length ? { 'Sec-WebSocket-Protocol': protocols.join(', ') } : {}),
  });
  if (r.status !== 101) return r;
  if (r.headers['sec-websocket-accept'] !== acceptKey(key)) throw new Error('bad Sec-WebSocket-Accept');
  return { conn: new WsConnection(r.socket, 'client', r.head), protocol: r.headers['sec-websocket-protocol'] ?? '' };
}

/** Runs an exec/attach URL over WebSocket (binary channel.k8s.io framing). */
export async function wsCommand(url: string, o: { stdin?: Buffer; protocol?: string; resize?: { Width: number; Height: number } }): Promise<CommandResult & { channels: number[] }> {
  const c = await wsConnect(url, [o.protocol ?? 'v5.channel.k8s.io']);
  if (!('conn' in c)) throw new Error(`upgrade refused: ${c.status} ${c.body}`);
  const { conn } = c;
  const parts: Buffer[][] = [[], [], [], []];
  const seen: number[] = [];
  conn.on('message', (m: Buffer) => {
    seen.push(m[0]!);
    parts[m[0]!]?.push(m.subarray(1));
  });
  if (o.resize) conn.send(Buffer.concat([Buffer.of(4), Buffer.from(JSON.stringify(o.resize))]));
  if (o.stdin) {
    conn.send(Buffer.concat([Buffer.of(0), o.stdin]));
    if (c.protocol.startsWith('v5.')) conn.send(Buffer.of(255, 0));
  }
  await new Promise((r) => conn.once('close', r));
  return { stdout: Buffer.concat(parts[1]!), stderr: Buffer.concat(parts[2]!), error: Buffer.concat(parts[3]!).toString(), channels: seen };
}

/** One SPDY port-forward request on an open session: data and error streams of its own. */
export async function spdyForward(session: SpdySession, port: number, requestId: string, send: Buffer, halfClose = true): Promise<{ data: Buffer; error: string }> {
  const base: [string, string[]][] = [['port', [String(port)]], ['requestid', [requestId]]];
  const error = await session.openStream(new Map([['streamtype', ['error']], ...base]));
  const data = await session.openStream(new Map([['streamtype', ['data']], ...base]));
  const errText = collect(error);
  const got = collect(data);
  if (halfClose) data.end(send);
  else data.write(send);
  const [d, e] = await Promise.all([got, errText]);
  return { data: d, error: e.toString() };
}
