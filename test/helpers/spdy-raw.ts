/**
 * A raw SPDY/3.1 peer for tests that must send what no well-behaved client would: header blocks
 * compressed by a real zlib stream (so the server's inflater stays in step), oversized frames,
 * floods. Frames coming back are parsed with the project's own FrameParser.
 */
import { createDeflate, constants as zc, type Deflate } from 'node:zlib';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { FrameParser, SPDY_DICTIONARY, SpdySession, encodeFrame, encodeHeaderBlock, type Frame, type SpdyHeaders, type SpdySessionLimits } from '../../lib/streaming/spdy/index.js';

/** One connection's compression context: each block continues the same zlib stream, sync-flushed. */
export class RawHeaderDeflater {
  private readonly deflate: Deflate = createDeflate({ dictionary: SPDY_DICTIONARY });

  /** Compresses `raw`, fed to zlib in slices so that a huge block never exists whole in memory. */
  async block(raw: Buffer | { fill: number; bytes: number; prefix: Buffer }): Promise<Buffer> {
    const out: Buffer[] = [];
    const onData = (c: Buffer) => out.push(c);
    this.deflate.on('data', onData);
    if (Buffer.isBuffer(raw)) {
      this.deflate.write(raw);
    } else {
      this.deflate.write(raw.prefix);
      const slice = Buffer.alloc(1024 * 1024, raw.fill);
      for (let left = raw.bytes; left > 0; left -= slice.length) {
        if (!this.deflate.write(left >= slice.length ? slice : slice.subarray(0, left))) await new Promise((r) => this.deflate.once('drain', r));
      }
    }
    await new Promise<void>((r) => this.deflate.flush(zc.Z_SYNC_FLUSH, () => r()));
    this.deflate.off('data', onData);
    return Buffer.concat(out);
  }

  close(): void {
    this.deflate.close();
  }
}

/** The start of a header block with one header whose value is `valueBytes` long (the value itself follows). */
export function oneHeaderPrefix(name: string, valueBytes: number): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(4 + 4 + n.length + 4);
  b.writeUInt32BE(1, 0);
  b.writeUInt32BE(n.length, 4);
  n.copy(b, 8);
  b.writeUInt32BE(valueBytes, 8 + n.length);
  return b;
}

export function headers(pairs: Record<string, string>): SpdyHeaders {
  return new Map(Object.entries(pairs).map(([k, v]) => [k, [v]]));
}

export function synStream(streamId: number, headerBlock: Buffer, flags = 0): Buffer {
  return encodeFrame({ kind: 'syn_stream', streamId, associatedId: 0, priority: 0, flags, headerBlock });
}

/** A raw client socket to a server-side SpdySession, and the frames it has received. */
export interface RawSpdyPair {
  server: Server;
  session: SpdySession;
  socket: Socket;
  deflater: RawHeaderDeflater;
  received: Frame[];
  /** Resolves once the client socket has closed. */
  closed: Promise<void>;
  /** Sends a SYN_STREAM whose header block is `h`, compressed in this connection's context. */
  open(streamId: number, h: SpdyHeaders, flags?: number): Promise<void>;
  waitFor(pred: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  end(): Promise<void>;
}

export async function rawSpdyPair(limits: Partial<SpdySessionLimits> = {}): Promise<RawSpdyPair> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<SpdySession>((resolve) => server.once('connection', (s) => resolve(new SpdySession(s, 'server', undefined, limits))));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.on('error', () => undefined);
  const session = await accepted;
  const parser = new FrameParser();
  const received: Frame[] = [];
  const waiters: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    received.push(...parser.push(chunk));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  const deflater = new RawHeaderDeflater();
  return {
    server,
    session,
    socket,
    deflater,
    received,
    closed,
    async open(streamId, h, flags = 0) {
      socket.write(synStream(streamId, await deflater.block(encodeHeaderBlock(h)), flags));
    },
    async waitFor(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = received.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(received.map((f) => f.kind))}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    async end() {
      deflater.close();
      socket.destroy();
      session.close();
      // A closed session's socket may be left to its idle timer; a test does not wait for that.
      session.socket.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
