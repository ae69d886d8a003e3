import { test } from 'node:test';
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import assert from 'node:assert/strict';
import {
  FLAG_FIN, FrameParser, FrameType, HeaderDecompressor, RstStatus, SpdyLimitError, SpdySession, dataFrameHeader, decodeHeaderBlock, encodeFrame, encodeHeaderBlock, type Frame,
} from '../../lib/streaming/spdy/index.js';
import { StreamingLimits } from '../../lib/streaming/limits.js';
import { RawHeaderDeflater, headers, oneHeaderPrefix, rawSpdyPair, synStream } from '../helpers/spdy-raw.js';

const MiB = 1024 * 1024;
const GOAWAY_PROTOCOL_ERROR = 1;
const isRst = (streamId: number, status: number) => (f: Frame) => f.kind === 'rst_stream' && f.streamId === streamId && f.status === status;
const isGoaway = (status: number) => (f: Frame) => f.kind === 'goaway' && f.status === status;

test('a header bomb (64 MiB of header value in 64 KiB of deflate) is refused after inflating no more than the cap', { timeout: 20_000 }, async () => {
  const deflater = new RawHeaderDeflater();
  const bomb = await deflater.block({ prefix: oneHeaderPrefix('x', 64 * MiB), fill: 0x61, bytes: 64 * MiB });
  deflater.close();
  assert.ok(bomb.length < 128 * 1024, `the bomb is small on the wire (${bomb.length} bytes)`);
  const d = new HeaderDecompressor({ maxBlockBytes: StreamingLimits.spdyHeaderBlockBytes });
  const before = process.memoryUsage().rss;
  await assert.rejects(d.decompress(bomb), SpdyLimitError);
  // zlib hands output over 16 KiB at a time; the inflater is stopped at the chunk that crossed the cap.
  assert.ok(d.inflatedTotal <= StreamingLimits.spdyHeaderBlockBytes + 64 * 1024, `inflated ${d.inflatedTotal} bytes in all`);
  assert.equal(d.pendingBytes, 0);
  assert.ok(process.memoryUsage().rss - before < 32 * MiB, 'memory did not grow with the bomb');
  // The connection's context is gone: later blocks fail too, quickly.
  await assert.rejects(d.decompress(Buffer.from([0])), SpdyLimitError);
  d.close();
});

test('a header block just under the byte cap still decodes', { timeout: 20_000 }, async () => {
  const deflater = new RawHeaderDeflater();
  const value = StreamingLimits.spdyHeaderBlockBytes - 64;
  const block = await deflater.block({ prefix: oneHeaderPrefix('x', value), fill: 0x62, bytes: value });
  deflater.close();
  const d = new HeaderDecompressor({ maxBlockBytes: StreamingLimits.spdyHeaderBlockBytes });
  const h = await d.decompress(block);
  assert.equal(h.get('x')![0]!.length, value);
  d.close();
});

test('header values are capped in number, NUL-joined ones counted one by one', () => {
  const many = new Map(Array.from({ length: 129 }, (_, i) => [`h${i}`, ['v']]));
  assert.throws(() => decodeHeaderBlock(encodeHeaderBlock(many), 128), SpdyLimitError);
  assert.equal(decodeHeaderBlock(encodeHeaderBlock(new Map([...many].slice(0, 128))), 128).size, 128);
  const nuls = encodeHeaderBlock(new Map([['x', ['\0'.repeat(200)]]]));
  assert.throws(() => decodeHeaderBlock(nuls, 128), SpdyLimitError);
  // A count field promising billions of headers is refused before any is read.
  const lying = Buffer.alloc(4);
  lying.writeUInt32BE(0xffffffff);
  assert.throws(() => decodeHeaderBlock(lying, 128), /exceeds the limit/);
});

test('a session answers a header bomb with RST_STREAM FRAME_TOO_LARGE and GOAWAY, and ends', { timeout: 20_000 }, async (t) => {
  const pair = await rawSpdyPair();
  t.after(() => pair.end());
  let streams = 0;
  pair.session.on('stream', () => streams++);
  const bomb = await pair.deflater.block({ prefix: oneHeaderPrefix('x', 256 * MiB), fill: 0x61, bytes: 256 * MiB });
  const before = process.memoryUsage().rss;
  pair.socket.write(synStream(1, bomb));
  await pair.waitFor(isRst(1, RstStatus.FRAME_TOO_LARGE));
  await pair.waitFor(isGoaway(GOAWAY_PROTOCOL_ERROR));
  await pair.closed;
  assert.ok(pair.session.isClosed);
  assert.equal(streams, 0);
  assert.ok(process.memoryUsage().rss - before < 64 * MiB, 'the 256 MiB value was never inflated');
});

test('a session ends on a header block with too many values', { timeout: 20_000 }, async (t) => {
  const pair = await rawSpdyPair();
  t.after(() => pair.end());
  const many: Record<string, string> = {};
  for (let i = 0; i < 129; i++) many[`h${i}`] = 'v';
  await pair.open(1, headers(many));
  await pair.waitFor(isRst(1, RstStatus.FRAME_TOO_LARGE));
  await pair.waitFor(isGoaway(GOAWAY_PROTOCOL_ERROR));
  await pair.closed;
});

test('an oversized control frame is refused from its header, before its payload arrives', { timeout: 20_000 }, async (t) => {
  const pair = await rawSpdyPair();
  t.after(() => pair.end());
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0x8003, 0);
  head.writeUInt16BE(FrameType.SYN_STREAM, 2);
  head.writeUInt32BE(0xffffff, 4);
  head.writeUInt32BE(5, 8);
  pair.socket.write(head);
  await pair.waitFor(isRst(5, RstStatus.FRAME_TOO_LARGE));
  await pair.waitFor(isGoaway(GOAWAY_PROTOCOL_ERROR));
  await pair.closed;
  // The parser alone: no stream to name for a PING that size.
  const ping = Buffer.from('80030006 00ffffff'.replace(/ /g, ''), 'hex');
  assert.throws(() => new FrameParser({ maxControlPayload: 1024 }).push(ping), (err: unknown) => err instanceof SpdyLimitError && err.streamId === undefined);
});

test('streams past the per-connection cap are refused with RST_STREAM REFUSED_STREAM; the session goes on', { timeout: 20_000 }, async (t) => {
  const pair = await rawSpdyPair({ concurrentStreams: 4 });
  t.after(() => pair.end());
  const opened: number[] = [];
  pair.session.on('stream', (s) => opened.push(s.id));
  for (const id of [1, 3, 5, 7, 9]) await pair.open(id, headers({ streamtype: 'data' }));
  await pair.waitFor(isRst(9, RstStatus.REFUSED_STREAM));
  assert.deepEqual(opened, [1, 3, 5, 7]);
  // Closing one frees its slot.
  pair.socket.write(encodeFrame({ kind: 'rst_stream', streamId: 3, status: RstStatus.CANCEL }));
  await pair.open(11, headers({ streamtype: 'data' }));
  await pair.waitFor((f) => f.kind === 'syn_reply' && f.streamId === 11);
  assert.deepEqual(opened, [1, 3, 5, 7, 11]);
  assert.equal(pair.session.isClosed, false);
});

test('a DATA frame larger than the piece size is handed on in pieces; the parser holds no more than a piece', () => {
  const parser = new FrameParser({ maxControlPayload: 1024, dataPiece: 128 * 1024 });
  const payload = Buffer.alloc(4 * MiB);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  const wire = Buffer.concat([dataFrameHeader(7, FLAG_FIN, payload.length), payload, encodeFrame({ kind: 'ping', id: 1 })]);
  const frames: Frame[] = [];
  for (let off = 0; off < wire.length; off += 65536) {
    frames.push(...parser.push(wire.subarray(off, off + 65536)));
    assert.ok(parser.buffered <= 128 * 1024 + 8, `parser holds ${parser.buffered} bytes`);
  }
  const data = frames.filter((f): f is Extract<Frame, { kind: 'data' }> => f.kind === 'data');
  assert.ok(data.length > 1);
  assert.ok(data.every((f) => f.streamId === 7));
  assert.deepEqual(data.map((f) => (f.flags & FLAG_FIN) !== 0), data.map((_, i) => i === data.length - 1));
  assert.ok(Buffer.concat(data.map((f) => f.data)).equals(payload));
  assert.deepEqual(frames.at(-1), { kind: 'ping', id: 1 });
});

/** A socket whose peer never reads: every write stays queued. */
function stalledSocket(): Socket {
  const sock = new Duplex({ read() {}, write() {} });
  return Object.assign(sock, { setNoDelay: () => sock }) as unknown as Socket;
}

test('a peer that floods PINGs and never reads stops being read once the replies back up', { timeout: 20_000 }, async (t) => {
  const backlog = 256 * 1024;
  const socket = stalledSocket();
  const session = new SpdySession(socket, 'server', undefined, { sendBacklogBytes: backlog });
  t.after(() => {
    session.close();
    socket.destroy();
  });
  // 64 KiB of PINGs at a time, as one socket read would bring them.
  const pings = Buffer.concat(Array.from({ length: 5461 }, (_, i) => encodeFrame({ kind: 'ping', id: 2 * i + 1 })));
  let peak = 0;
  for (let i = 0; i < 64; i++) {
    socket.push(pings);
    await new Promise((r) => setImmediate(r));
    peak = Math.max(peak, socket.writableLength);
  }
  assert.ok(socket.isPaused(), 'the session stopped reading');
  assert.ok(socket.readableLength >= 32 * pings.length, `${socket.readableLength} bytes of PINGs were left unread`);
  // At most one more read's worth of replies past the limit.
  assert.ok(peak <= backlog + pings.length, `unsent replies peaked at ${peak} bytes`);
});
