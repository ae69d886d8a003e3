import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { once } from 'node:events';
import http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import hpack from 'hpack.js';
import {
  CLIENT_PREFACE,
  ClientFrameFilter,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  FRAME_CONTINUATION,
  FRAME_HEADERS,
  H2FilterError,
  encodeHeaderFrames,
  encodeLiteralHeaderBlock,
  filterAuthority,
  hpackIntegerLength,
  isValidAuthority,
  leadingTableSizeUpdatesLength,
  needsAuthorityFix,
  withFixedAuthority,
  writeHpackInteger,
  type HeaderField,
} from '../../lib/server/h2-authority-filter.js';

// ---------------------------------------------------------------------------------------------
// Wire helpers
// ---------------------------------------------------------------------------------------------

const FRAME_DATA = 0x0;
const FRAME_SETTINGS = 0x4;
const FRAME_RST_STREAM = 0x3;
const FRAME_GOAWAY = 0x7;

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** Splits whole frames off the front of `buf`; returns them and the unparsed rest. */
function parseFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let pos = 0;
  while (buf.length - pos >= 9) {
    const length = buf.readUIntBE(pos, 3);
    if (buf.length - pos < 9 + length) break;
    frames.push({
      type: buf[pos + 3]!,
      flags: buf[pos + 4]!,
      streamId: buf.readUInt32BE(pos + 5) & 0x7fffffff,
      payload: buf.subarray(pos + 9, pos + 9 + length),
    });
    pos += 9 + length;
  }
  return { frames, rest: buf.subarray(pos) };
}

/** Literal with incremental indexing, new name: adds the field to the decoder's dynamic table. */
function indexedLiteral(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0x40, n.length]), n, Buffer.from([v.length]), v]);
}

/** Indexed field representation (index < 127). */
function indexed(index: number): Buffer {
  return Buffer.from([0x80 | index]);
}

const SETTINGS = frame(FRAME_SETTINGS, 0, 0);
const DATA = frame(FRAME_DATA, FLAG_END_STREAM, 1, Buffer.from('hello'));

function requestFields(authority: string | null): HeaderField[] {
  const fields: HeaderField[] = [
    { name: ':method', value: 'POST' },
    { name: ':scheme', value: 'http' },
    { name: ':path', value: '/t.S/Echo' },
  ];
  if (authority !== null) fields.push({ name: ':authority', value: authority });
  fields.push({ name: 'content-type', value: 'application/grpc' }, { name: 'te', value: 'trailers' });
  return fields;
}

/** Runs chunks through a fresh filter; returns everything it emitted, joined, and the filter. */
function runFilter(chunks: Buffer[]): { out: Buffer; filter: ClientFrameFilter } {
  const parts: Buffer[] = [];
  const filter = new ClientFrameFilter((data) => parts.push(Buffer.from(data)));
  for (const chunk of chunks) filter.write(chunk);
  return { out: Buffer.concat(parts), filter };
}

/** Decodes the header blocks of a frame sequence the way the server would (one HPACK state). */
function serverView(frames: Frame[]): Array<{ streamId: number; flags: number; fields: HeaderField[] }> {
  const decompressor = hpack.decompressor.create({ table: { maxSize: 4096 } });
  const blocks: Array<{ streamId: number; flags: number; fields: HeaderField[] }> = [];
  let pending: Buffer[] = [];
  let first: Frame | null = null;
  for (const f of frames) {
    if (f.type !== FRAME_HEADERS && f.type !== FRAME_CONTINUATION) continue;
    if (f.type === FRAME_HEADERS) {
      first = f;
      pending = [];
      let start = 0;
      let end = f.payload.length;
      if (f.flags & FLAG_PADDED) {
        end -= f.payload[0]!;
        start = 1;
      }
      if (f.flags & FLAG_PRIORITY) start += 5;
      pending.push(f.payload.subarray(start, end));
    } else {
      pending.push(f.payload);
    }
    if (f.flags & FLAG_END_HEADERS) {
      decompressor.write(Buffer.concat(pending));
      decompressor.execute();
      const fields: HeaderField[] = [];
      for (let h = decompressor.read(); h !== null; h = decompressor.read()) fields.push({ name: h.name, value: h.value });
      blocks.push({ streamId: first!.streamId, flags: first!.flags, fields });
    }
  }
  return blocks;
}

function framesAfterPreface(out: Buffer): Frame[] {
  assert.deepEqual(out.subarray(0, CLIENT_PREFACE.length), CLIENT_PREFACE);
  const { frames, rest } = parseFrames(out.subarray(CLIENT_PREFACE.length));
  assert.equal(rest.length, 0, 'output ends on a frame boundary');
  return frames;
}

function plain(fields: HeaderField[]): Array<[string, string]> {
  return fields.map((f) => [f.name, f.value]);
}

// ---------------------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------------------

test('HPACK integers follow RFC 7541 C.1', () => {
  const buf = Buffer.alloc(8);
  assert.deepEqual([...buf.subarray(0, writeHpackInteger(buf, 0, 10, 5, 0))], [0x0a]);
  assert.deepEqual([...buf.subarray(0, writeHpackInteger(buf, 0, 1337, 5, 0))], [0x1f, 0x9a, 0x0a]);
  assert.deepEqual([...buf.subarray(0, writeHpackInteger(buf, 0, 42, 8, 0))], [0x2a]);
  assert.deepEqual([...buf.subarray(0, writeHpackInteger(buf, 0, 127, 7, 0x80))], [0xff, 0x00]);
  assert.equal(hpackIntegerLength(10, 5), 1);
  assert.equal(hpackIntegerLength(1337, 5), 3);
  assert.equal(hpackIntegerLength(127, 7), 2);
  assert.equal(hpackIntegerLength(126, 7), 1);
  assert.equal(hpackIntegerLength(40960, 7), 4);
});

test('authority validation matches what nghttp2 accepts (minus %)', () => {
  for (const ok of ['localhost', 'localhost:1234', '127.0.0.1:80', '[::1]:443', 'a-b_c.d~e', 'runcri.sock']) {
    assert.equal(isValidAuthority(ok), true, ok);
  }
  for (const bad of ['', '/run/runcri/runcri.sock', '%2Frun%2Frunc.sock', 'local host', 'user@host', 'a\\b', 'é', 'a"b', 'x?y', 'x#y']) {
    assert.equal(isValidAuthority(bad), false, bad);
  }
});

test('withFixedAuthority replaces invalid values, inserts missing ones, leaves trailers alone', () => {
  assert.equal(needsAuthorityFix(requestFields('localhost')), false);
  assert.equal(needsAuthorityFix(requestFields('/x.sock')), true);
  assert.equal(needsAuthorityFix(requestFields('')), true);
  assert.equal(needsAuthorityFix(requestFields(null)), true);

  const fixed = withFixedAuthority(requestFields('/tmp/x.sock'));
  assert.deepEqual(plain(fixed), plain(requestFields('localhost')));

  const inserted = withFixedAuthority(requestFields(null));
  assert.deepEqual(plain(inserted).slice(0, 4), [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':authority', 'localhost'],
    [':path', '/t.S/Echo'],
  ]);

  const trailers: HeaderField[] = [{ name: 'x-checksum', value: '1' }];
  assert.equal(needsAuthorityFix(trailers), false);
  assert.deepEqual(withFixedAuthority(trailers), trailers);
});

test('literal encoding round-trips through an HPACK decoder and keeps never-indexed marks', () => {
  const fields: HeaderField[] = [...requestFields('localhost'), { name: 'authorization', value: 'secret', neverIndex: true }];
  const block = encodeLiteralHeaderBlock(fields);
  assert.equal(block[0], 0x00);
  const d = hpack.decompressor.create({ table: { maxSize: 4096 } });
  d.write(block);
  d.execute();
  const decoded: HeaderField[] = [];
  for (let h = d.read(); h !== null; h = d.read()) decoded.push(h);
  assert.deepEqual(plain(decoded), plain(fields));
  assert.equal(decoded.at(-1)!.neverIndex, true);
  assert.equal(decoded[0]!.neverIndex, false);
});

test('leading dynamic table size updates are measured, including multi-octet ones', () => {
  assert.equal(leadingTableSizeUpdatesLength(Buffer.from([0x20, 0x3f, 0xe1, 0x1f, 0x82])), 4);
  assert.equal(leadingTableSizeUpdatesLength(Buffer.from([0x82, 0x20])), 0);
  assert.equal(leadingTableSizeUpdatesLength(Buffer.alloc(0)), 0);
});

test('encodeHeaderFrames splits a large block into HEADERS + CONTINUATION within the frame size', () => {
  const block = Buffer.alloc(40000, 7);
  const priority = Buffer.from([0x80, 0, 0, 3, 15]);
  const { frames, rest } = parseFrames(encodeHeaderFrames({ streamId: 5, block, endStream: true, priority }));
  assert.equal(rest.length, 0);
  assert.deepEqual(
    frames.map((f) => [f.type, f.flags, f.streamId, f.payload.length]),
    [
      [FRAME_HEADERS, FLAG_END_STREAM | FLAG_PRIORITY, 5, 16384],
      [FRAME_CONTINUATION, 0, 5, 16384],
      [FRAME_CONTINUATION, FLAG_END_HEADERS, 5, 40000 - 16379 - 16384],
    ],
  );
  assert.deepEqual(frames[0]!.payload.subarray(0, 5), priority);
  assert.deepEqual(Buffer.concat([frames[0]!.payload.subarray(5), frames[1]!.payload, frames[2]!.payload]), block);

  const small = parseFrames(encodeHeaderFrames({ streamId: 1, block: Buffer.from([0x82]), endStream: false, priority: null }));
  assert.deepEqual(small.frames.map((f) => [f.type, f.flags]), [[FRAME_HEADERS, FLAG_END_HEADERS]]);
});

// ---------------------------------------------------------------------------------------------
// The frame filter on hand-made bytes
// ---------------------------------------------------------------------------------------------

test('fast path: valid authorities pass byte-for-byte, whatever the chunking', () => {
  const big = encodeLiteralHeaderBlock([...requestFields('localhost'), { name: 'x-big', value: 'b'.repeat(20000) }]);
  const input = Buffer.concat([
    CLIENT_PREFACE,
    SETTINGS,
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, encodeLiteralHeaderBlock(requestFields('localhost'))),
    DATA,
    // a padded HEADERS with PRIORITY, continued in a CONTINUATION frame
    frame(FRAME_HEADERS, FLAG_PADDED | FLAG_PRIORITY, 3, Buffer.concat([Buffer.from([2, 0, 0, 0, 1, 16]), big.subarray(0, 10000), Buffer.alloc(2)])),
    frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 3, big.subarray(10000)),
    frame(FRAME_DATA, FLAG_END_STREAM, 3, Buffer.from('x')),
  ]);

  const whole = runFilter([input]);
  assert.deepEqual(whole.out, input);
  assert.equal(whole.filter.rewriting, false);

  const bytewise = runFilter([...input].map((b) => Buffer.from([b])));
  assert.deepEqual(bytewise.out, input);

  for (const cut of [1, 23, 24, 25, 32, 33, 34, 40, 60, input.length - 5]) {
    const { out } = runFilter([input.subarray(0, cut), input.subarray(cut)]);
    assert.deepEqual(out, input, `split at ${cut}`);
  }
});

test('pass-through frames are forwarded without waiting for the rest of their payload', () => {
  const emitted: Buffer[] = [];
  const filter = new ClientFrameFilter((data) => emitted.push(data));
  const data = frame(FRAME_DATA, 0, 1, Buffer.alloc(1000, 1));
  filter.write(Buffer.concat([CLIENT_PREFACE, data.subarray(0, 500)]));
  assert.deepEqual(Buffer.concat(emitted), Buffer.concat([CLIENT_PREFACE, data.subarray(0, 500)]));
  filter.write(data.subarray(500));
  assert.deepEqual(Buffer.concat(emitted), Buffer.concat([CLIENT_PREFACE, data]));
});

test('a padded HEADERS with PRIORITY and a path authority is re-encoded without padding', () => {
  const block = encodeLiteralHeaderBlock(requestFields('/run/runcri/runcri.sock'));
  const priority = Buffer.from([0x80, 0, 0, 1, 200]);
  const padded = Buffer.concat([Buffer.from([4]), priority, block, Buffer.alloc(4)]);
  const input = Buffer.concat([
    CLIENT_PREFACE,
    SETTINGS,
    frame(FRAME_HEADERS, FLAG_PADDED | FLAG_PRIORITY | FLAG_END_HEADERS | FLAG_END_STREAM, 1, padded),
    DATA,
  ]);
  // split inside the frame header and inside the payload
  const { out, filter } = runFilter([input.subarray(0, 37), input.subarray(37, 50), input.subarray(50)]);
  assert.equal(filter.rewriting, true);

  const frames = framesAfterPreface(out);
  assert.deepEqual(frames.map((f) => f.type), [FRAME_SETTINGS, FRAME_HEADERS, FRAME_DATA]);
  const headers = frames[1]!;
  assert.equal(headers.flags, FLAG_PRIORITY | FLAG_END_HEADERS | FLAG_END_STREAM);
  assert.deepEqual(headers.payload.subarray(0, 5), priority);
  assert.deepEqual(plain(serverView(frames)[0]!.fields), plain(requestFields('localhost')));
  assert.deepEqual(frame(frames[2]!.type, frames[2]!.flags, frames[2]!.streamId, frames[2]!.payload), DATA);
});

test('missing and empty authorities get localhost; trailers get nothing', () => {
  const input = Buffer.concat([
    CLIENT_PREFACE,
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, encodeLiteralHeaderBlock(requestFields(null))),
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 3, encodeLiteralHeaderBlock(requestFields(''))),
    frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 3, encodeLiteralHeaderBlock([{ name: 'x-trailer', value: 'v' }])),
  ]);
  const blocks = serverView(framesAfterPreface(runFilter([input]).out));
  assert.deepEqual(plain(blocks[0]!.fields).slice(0, 4), [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':authority', 'localhost'],
    [':path', '/t.S/Echo'],
  ]);
  assert.deepEqual(plain(blocks[1]!.fields), plain(requestFields('localhost')));
  assert.deepEqual(plain(blocks[2]!.fields), [['x-trailer', 'v']]);
  assert.equal(blocks[2]!.flags & FLAG_END_STREAM, FLAG_END_STREAM);
});

test('HPACK state stays in sync across the switch to re-encoding', () => {
  // Block 1 (valid, fast path) puts x-k: v1 at dynamic index 62; later blocks refer to it.
  const block1 = Buffer.concat([encodeLiteralHeaderBlock(requestFields('localhost')), indexedLiteral('x-k', 'v1')]);
  const block2 = Buffer.concat([encodeLiteralHeaderBlock(requestFields('/x.sock')), indexed(62), indexedLiteral('x-j', 'v2')]);
  const block3 = Buffer.concat([encodeLiteralHeaderBlock(requestFields('valid:1')), indexed(62), indexed(63)]);
  // a size update opening a block is kept; a shrink to 0 empties the client's table
  const block4 = Buffer.concat([Buffer.from([0x20, 0x3f, 0xe1, 0x1f]), encodeLiteralHeaderBlock(requestFields('%2Fx'))]);
  const input = Buffer.concat([
    CLIENT_PREFACE,
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, block1),
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 3, block2),
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 5, block3),
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 7, block4),
  ]);
  const { out } = runFilter([input]);
  const frames = framesAfterPreface(out);
  // the first block went through untouched
  assert.deepEqual(frames[0]!.payload, block1);
  assert.deepEqual(frames[3]!.payload.subarray(0, 4), Buffer.from([0x20, 0x3f, 0xe1, 0x1f]));

  const blocks = serverView(frames);
  assert.deepEqual(plain(blocks[0]!.fields), [...plain(requestFields('localhost')), ['x-k', 'v1']]);
  assert.deepEqual(plain(blocks[1]!.fields), [...plain(requestFields('localhost')), ['x-k', 'v1'], ['x-j', 'v2']]);
  // the client's index 62 is now x-j (newest first); the filter resolved it on the client's table
  assert.deepEqual(plain(blocks[2]!.fields), [...plain(requestFields('valid:1')), ['x-j', 'v2'], ['x-k', 'v1']]);
  assert.deepEqual(plain(blocks[3]!.fields), plain(requestFields('localhost')));
});

test('re-encoded blocks larger than a frame are split into CONTINUATION frames', () => {
  const fields = [...requestFields('/x.sock'), { name: 'x-big', value: 'q'.repeat(40 * 1024) }];
  const block = encodeLiteralHeaderBlock(fields);
  const input = Buffer.concat([
    CLIENT_PREFACE,
    frame(FRAME_HEADERS, 0, 1, block.subarray(0, 16000)),
    frame(FRAME_CONTINUATION, 0, 1, block.subarray(16000, 32000)),
    frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 1, block.subarray(32000)),
  ]);
  const frames = framesAfterPreface(runFilter([input]).out);
  assert.deepEqual(frames.map((f) => f.type), [FRAME_HEADERS, FRAME_CONTINUATION, FRAME_CONTINUATION]);
  for (const f of frames) assert.ok(f.payload.length <= 16384);
  assert.equal(frames.at(-1)!.flags, FLAG_END_HEADERS);
  const [only] = serverView(frames);
  assert.deepEqual(plain(only!.fields), plain(withFixedAuthority(fields)));
});

test('malformed input raises H2FilterError', () => {
  const cases: Array<[string, Buffer[]]> = [
    ['bad preface', [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]],
    ['preface split then bad', [CLIENT_PREFACE.subarray(0, 10), Buffer.from('garbage garbage')]],
    ['CONTINUATION without HEADERS', [CLIENT_PREFACE, frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 1, Buffer.from([0x82]))]],
    ['DATA inside a header block', [CLIENT_PREFACE, frame(FRAME_HEADERS, 0, 1, Buffer.from([0x82])), DATA]],
    ['CONTINUATION on another stream', [CLIENT_PREFACE, frame(FRAME_HEADERS, 0, 1, Buffer.from([0x82])), frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 3)]],
    ['HPACK index 0', [CLIENT_PREFACE, frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, Buffer.from([0x80]))]],
    ['HPACK index out of range', [CLIENT_PREFACE, frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, Buffer.from([0xfe]))]],
    ['truncated HPACK string', [CLIENT_PREFACE, frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, Buffer.from([0x00, 0x7e, 0x61]))]],
    ['padding longer than frame', [CLIENT_PREFACE, frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_PADDED, 1, Buffer.from([9, 0x82]))]],
    ['PRIORITY fields missing', [CLIENT_PREFACE, frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_PRIORITY, 1, Buffer.from([0, 0]))]],
  ];
  for (const [name, chunks] of cases) {
    assert.throws(() => runFilter(chunks), H2FilterError, name);
  }
  // size cap: a 16 MiB HEADERS frame is refused from its header alone, before any payload
  const huge = Buffer.alloc(9);
  huge.writeUIntBE(0xffffff, 0, 3);
  huge[3] = FRAME_HEADERS;
  huge.writeUInt32BE(1, 5);
  assert.throws(() => runFilter([CLIENT_PREFACE, huge]), /exceeds/);
});

// ---------------------------------------------------------------------------------------------
// The stream wrapper over a scripted socket
// ---------------------------------------------------------------------------------------------

/** A socket stand-in whose writes complete only when the test says so. */
function scriptedSocket(): { sock: Duplex; written: Buffer[]; completeWrite: () => void } {
  const written: Buffer[] = [];
  const pending: Array<() => void> = [];
  const sock = new Duplex({
    writableHighWaterMark: 1,
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk);
      pending.push(() => callback());
    },
  });
  return { sock, written, completeWrite: () => pending.shift()?.() };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('wrapper: server→client writes wait for the socket to drain, in order', async () => {
  const { sock, written, completeWrite } = scriptedSocket();
  const wrapper = filterAuthority(sock);
  const finished = once(sock, 'finish');
  const chunks = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
  for (const c of chunks) wrapper.write(c);
  wrapper.end();
  await tick();
  assert.equal(written.length, 1, 'the second write waits for the first to drain');
  for (let i = 0; i < 2; i++) {
    completeWrite();
    await tick();
  }
  assert.deepEqual(written, [chunks[0], Buffer.concat([chunks[1]!, chunks[2]!])], 'what waited goes out together, in order');
  await finished; // end() reached the socket once everything was written
});

test('wrapper: the frames of one corked flush reach the socket as one write', async () => {
  const { sock, written, completeWrite } = scriptedSocket();
  const wrapper = filterAuthority(sock);
  const frames = [frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, Buffer.alloc(12, 1)), frame(FRAME_DATA, 0, 1, Buffer.alloc(40, 2)), frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, Buffer.alloc(8, 3))];
  // How Node's HTTP/2 session hands a flush to a JS stream: corked writes, then uncork.
  wrapper.cork();
  for (const f of frames) wrapper.write(f);
  process.nextTick(() => wrapper.uncork());
  await tick();
  assert.equal(written.length, 1);
  assert.deepEqual(written[0], Buffer.concat(frames));
  completeWrite();
});

test('wrapper: client→server data pauses the socket while the consumer does not read', async () => {
  const { sock } = scriptedSocket();
  const wrapper = filterAuthority(sock);
  const data = frame(FRAME_DATA, 0, 1, Buffer.alloc(256 * 1024, 3));
  sock.push(CLIENT_PREFACE);
  for (let i = 0; i < data.length; i += 32 * 1024) sock.push(data.subarray(i, i + 32 * 1024));
  await tick();
  assert.equal(sock.isPaused(), true, 'socket paused under backpressure');

  const received: Buffer[] = [];
  wrapper.on('data', (chunk: Buffer) => received.push(chunk));
  sock.push(null);
  await once(wrapper, 'end');
  assert.deepEqual(Buffer.concat(received), Buffer.concat([CLIENT_PREFACE, data]));
});

test('wrapper: destroy and errors propagate both ways; garbage destroys quietly', async () => {
  const first = scriptedSocket();
  const w1 = filterAuthority(first.sock);
  w1.destroy();
  assert.equal(first.sock.destroyed, true);

  const second = scriptedSocket();
  const w2 = filterAuthority(second.sock);
  second.sock.destroy(new Error('reset by peer'));
  const [err] = (await once(w2, 'error')) as [Error];
  assert.equal(err.message, 'reset by peer');
  assert.equal(w2.destroyed, true);

  const third = scriptedSocket();
  const reasons: Error[] = [];
  const w3 = filterAuthority(third.sock, { onProtocolError: (e) => reasons.push(e) });
  let errored = false;
  w3.on('error', () => (errored = true));
  third.sock.push(Buffer.from('\x16\x03\x01 a TLS hello, say'));
  await once(w3, 'close');
  assert.equal(third.sock.destroyed, true);
  assert.equal(errored, false);
  assert.equal(reasons.length, 1);
});

// ---------------------------------------------------------------------------------------------
// End to end: grpc-js behind the filter on a Unix socket
// ---------------------------------------------------------------------------------------------

interface EchoReply {
  s: string;
  host: string;
  big: number;
}

interface Harness {
  sockPath: string;
  /** Errors the filter reported for dropped connections. */
  rejected: Error[];
  /** What each accepted connection received from its client, before the filter. */
  received: Buffer[][];
  /** The accepted sockets still open. */
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

const PROTO = `syntax = "proto3";
package t;
service S { rpc Echo(M) returns (M); }
message M { string s = 1; }
`;

async function startServer(useFilter: boolean): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'h2auth-'));
  writeFileSync(join(dir, 't.proto'), PROTO);
  const definition = protoLoader.loadSync(join(dir, 't.proto'), { keepCase: true });
  const pkg = grpc.loadPackageDefinition(definition).t as grpc.GrpcObject;
  const service = (pkg.S as grpc.ServiceClientConstructor).service;

  const server = new grpc.Server();
  server.addService(service, {
    Echo: (call: grpc.ServerUnaryCall<{ s: string }, { s: string }>, callback: grpc.sendUnaryData<{ s: string }>) => {
      const big = call.metadata.get('x-big')[0];
      const reply: EchoReply = { s: call.request.s, host: call.getHost(), big: typeof big === 'string' ? big.length : 0 };
      callback(null, { s: JSON.stringify(reply) });
    },
  });
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const rejected: Error[] = [];
  const received: Buffer[][] = [];
  const sockPath = join(dir, 'x.sock');
  const sockets = new Set<net.Socket>();
  const netServer = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    const chunks: Buffer[] = [];
    received.push(chunks);
    sock.on('data', (chunk: Buffer) => chunks.push(chunk));
    injector.injectConnection(useFilter ? filterAuthority(sock, { onProtocolError: (err) => rejected.push(err) }) : sock);
  });
  await new Promise<void>((resolve) => netServer.listen(sockPath, resolve));
  return {
    sockPath,
    rejected,
    received,
    sockets,
    async close() {
      injector.destroy();
      server.forceShutdown();
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((resolve) => netServer.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function encodeMessage(s: string): Buffer {
  const body = Buffer.from(s, 'utf8');
  const varint: number[] = [];
  for (let n = body.length; ; n >>>= 7) {
    if (n < 0x80) {
      varint.push(n);
      break;
    }
    varint.push((n & 0x7f) | 0x80);
  }
  const proto = Buffer.concat([Buffer.from([0x0a, ...varint]), body]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(proto.length, 1);
  return Buffer.concat([prefix, proto]);
}

function decodeMessage(data: Buffer): string {
  assert.ok(data.length >= 5, 'a gRPC message');
  const proto = data.subarray(5, 5 + data.readUInt32BE(1));
  if (proto.length === 0) return '';
  assert.equal(proto[0], 0x0a);
  let len = 0;
  let shift = 0;
  let pos = 1;
  for (;;) {
    const b = proto[pos++]!;
    len |= (b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) break;
  }
  return proto.subarray(pos, pos + len).toString('utf8');
}

interface CallResult {
  status?: string;
  reply?: EchoReply;
  rstCode?: number;
}

function connectH2(sockPath: string): http2.ClientHttp2Session {
  const client = http2.connect('http://localhost', { createConnection: () => net.connect(sockPath) });
  client.on('error', () => {}); // failures show up on the requests
  return client;
}

/** One unary Echo over node:http2; resolves with the reply or how the stream ended. */
function echo(client: http2.ClientHttp2Session, authority: string, s: string, extra: http2.OutgoingHttpHeaders = {}): Promise<CallResult> {
  return new Promise((resolve) => {
    const req = client.request({
      ':method': 'POST',
      ':path': '/t.S/Echo',
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extra,
    });
    const chunks: Buffer[] = [];
    const result: CallResult = {};
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('trailers', (trailers) => {
      result.status = String(trailers['grpc-status']);
    });
    req.on('error', () => {});
    req.on('close', () => {
      if (chunks.length > 0) result.reply = JSON.parse(decodeMessage(Buffer.concat(chunks))) as EchoReply;
      if (req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) result.rstCode = req.rstCode;
      resolve(result);
    });
    req.end(encodeMessage(s));
  });
}

/** The frames a connection's client sent (after the preface). */
function clientFrames(chunks: Buffer[]): Frame[] {
  return parseFrames(Buffer.concat(chunks).subarray(CLIENT_PREFACE.length)).frames;
}

function closeClient(client: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => client.close(() => resolve()));
}

test('end to end: valid and invalid authorities through the filter, one connection each', async (t) => {
  const h = await startServer(true);
  t.after(() => h.close());
  const cases: Array<[string, string]> = [
    ['localhost', 'localhost'],
    [join(tmpdir(), 'somewhere', 'x.sock'), 'localhost'],
    ['%2Ftmp%2Fx.sock', 'localhost'],
    ['', 'localhost'],
  ];
  for (const [authority, expected] of cases) {
    const client = connectH2(h.sockPath);
    const result = await echo(client, authority, `hi ${authority}`);
    assert.deepEqual(result, { status: '0', reply: { s: `hi ${authority}`, host: expected, big: 0 } }, `authority ${JSON.stringify(authority)}`);
    await closeClient(client);
  }
  assert.deepEqual(h.rejected, []);
});

test('end to end control: without the filter a path authority is refused', async (t) => {
  const h = await startServer(false);
  t.after(() => h.close());
  const client = connectH2(h.sockPath);
  const bad = await echo(client, '/run/runcri/runcri.sock', 'x');
  assert.equal(bad.reply, undefined);
  assert.equal(bad.rstCode, http2.constants.NGHTTP2_PROTOCOL_ERROR);
  const good = await echo(connectH2(h.sockPath), 'localhost', 'y');
  assert.equal(good.status, '0');
  client.destroy();
});

test('end to end: 40 KiB metadata needs CONTINUATION frames, on the fast path and re-encoded', async (t) => {
  const h = await startServer(true);
  t.after(() => h.close());
  const big = 'z'.repeat(40 * 1024);
  for (const authority of ['localhost', '/run/runcri/runcri.sock']) {
    const client = connectH2(h.sockPath);
    const result = await echo(client, authority, 'big', { 'x-big': big });
    assert.deepEqual(result, { status: '0', reply: { s: 'big', host: 'localhost', big: big.length } }, authority);
    await closeClient(client);
  }
  for (const chunks of h.received) {
    assert.ok(clientFrames(chunks).some((f) => f.type === FRAME_CONTINUATION), 'the client used CONTINUATION frames');
  }
});

test('end to end: many calls on one connection mixing authorities after the switch', async (t) => {
  const h = await startServer(true);
  t.after(() => h.close());
  const client = connectH2(h.sockPath);
  const authorities = ['localhost', 'runcri:1', 'localhost', '/run/x.sock', 'localhost', 'runcri:1', '', '%2Frun', 'localhost', 'runcri:1'];
  for (let round = 0; round < 3; round++) {
    for (const [i, authority] of authorities.entries()) {
      const s = `r${round}c${i}`;
      // repeated custom headers become dynamic-table references in node's encoder
      const extra = { 'x-round': String(round), 'x-same': 'same-value', ...(i % 4 === 0 ? { 'x-big': 'b'.repeat(20000 + i) } : {}) };
      const result = await echo(client, authority, s, extra);
      const host = isValidAuthority(authority) ? authority : 'localhost';
      assert.deepEqual(result, { status: '0', reply: { s, host, big: i % 4 === 0 ? 20000 + i : 0 } }, `${s} ${authority}`);
    }
  }
  // a burst of concurrent calls on the same re-encoding connection
  const results = await Promise.all(authorities.map((a, i) => echo(client, a, `p${i}`)));
  results.forEach((r, i) => assert.equal(r.reply?.s, `p${i}`));
  await closeClient(client);
  // Node's encoder did refer to its dynamic table: a request block this small is all indexes.
  const requestBlocks = clientFrames(h.received[0]!).filter((f) => f.type === FRAME_HEADERS && (f.flags & FLAG_END_STREAM) === 0);
  assert.ok(requestBlocks.filter((f) => f.payload.length < 20).length > 20, 'requests used indexed header fields');
});

// -- a raw HTTP/2 client, for what node:http2 will not send ---------------------------------------

interface RawResult {
  status?: string;
  reply?: EchoReply;
  rstCode?: number;
  goaway?: boolean;
  closed?: boolean;
}

/** Sends `frames` after the preface and SETTINGS, then reads stream 1's response. */
function rawCall(sockPath: string, requestFrames: Buffer[]): Promise<RawResult> {
  return new Promise((resolve) => {
    const sock = net.connect(sockPath);
    const decompressor = hpack.decompressor.create({ table: { maxSize: 4096 } });
    const result: RawResult = {};
    const body: Buffer[] = [];
    let buffered = Buffer.alloc(0);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      if (body.length > 0) result.reply = JSON.parse(decodeMessage(Buffer.concat(body))) as EchoReply;
      sock.destroy();
      resolve(result);
    };
    const timer = setTimeout(finish, 5000);
    sock.on('error', () => {});
    sock.on('close', () => {
      result.closed = true;
      clearTimeout(timer);
      finish();
    });
    sock.on('data', (chunk: Buffer) => {
      const { frames, rest } = parseFrames(Buffer.concat([buffered, chunk]));
      buffered = Buffer.from(rest);
      for (const f of frames) {
        if (f.type === FRAME_SETTINGS && (f.flags & 0x1) === 0) sock.write(frame(FRAME_SETTINGS, 0x1, 0));
        if (f.type === FRAME_GOAWAY) {
          result.goaway = true;
          finish();
        }
        if (f.streamId !== 1) continue;
        if (f.type === FRAME_RST_STREAM) {
          result.rstCode = f.payload.readUInt32BE(0);
          finish();
        } else if (f.type === FRAME_DATA) {
          body.push(Buffer.from(f.payload));
        } else if (f.type === FRAME_HEADERS) {
          decompressor.write(f.payload);
          decompressor.execute();
          for (let hf = decompressor.read(); hf !== null; hf = decompressor.read()) {
            if (hf.name === 'grpc-status') result.status = hf.value;
          }
          if (f.flags & FLAG_END_STREAM) finish();
        }
      }
    });
    sock.write(Buffer.concat([CLIENT_PREFACE, SETTINGS, ...requestFrames]));
  });
}

test('end to end: a request without :authority (raw frames), and a padded one with PRIORITY', async (t) => {
  const h = await startServer(true);
  t.after(() => h.close());
  const message = frame(FRAME_DATA, FLAG_END_STREAM, 1, encodeMessage('raw'));

  const missing = await rawCall(h.sockPath, [
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, encodeLiteralHeaderBlock(requestFields(null))),
    message,
  ]);
  assert.deepEqual({ status: missing.status, reply: missing.reply }, { status: '0', reply: { s: 'raw', host: 'localhost', big: 0 } });

  const block = encodeLiteralHeaderBlock(requestFields('/run/runcri/runcri.sock'));
  const padded = Buffer.concat([Buffer.from([3, 0, 0, 0, 0, 15]), block.subarray(0, 20), Buffer.alloc(3)]);
  const fancy = await rawCall(h.sockPath, [
    frame(FRAME_HEADERS, FLAG_PADDED | FLAG_PRIORITY, 1, padded),
    frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 1, block.subarray(20)),
    message,
  ]);
  assert.deepEqual({ status: fancy.status, reply: fancy.reply }, { status: '0', reply: { s: 'raw', host: 'localhost', big: 0 } });
  assert.deepEqual(h.rejected, []);
});

test('end to end: garbage is dropped without harm and the next connection works', async (t) => {
  const h = await startServer(true);
  t.after(() => h.close());

  for (const bytes of [
    Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'),
    Buffer.concat([CLIENT_PREFACE, frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, Buffer.from([0x80, 0xff, 0xff]))]),
    Buffer.concat([CLIENT_PREFACE, frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 1, Buffer.from([0x82]))]),
    Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff)),
  ]) {
    const closed = await new Promise<boolean>((resolve) => {
      const sock = net.connect(h.sockPath, () => sock.end(bytes));
      sock.on('error', () => {});
      sock.on('data', () => {});
      sock.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 5000).unref();
    });
    assert.equal(closed, true);
  }
  assert.ok(h.rejected.length >= 3, `rejections reported: ${h.rejected.map((e) => e.message).join('; ')}`);
  assert.ok(h.rejected.every((e) => e instanceof H2FilterError));

  const client = connectH2(h.sockPath);
  const result = await echo(client, '/still/works.sock', 'after');
  assert.deepEqual(result, { status: '0', reply: { s: 'after', host: 'localhost', big: 0 } });
  await closeClient(client);
});

test('end to end: megabytes each way keep flowing (backpressure) on a re-encoding connection', async (t) => {
  const h = await startServer(true);
  t.after(() => h.close());
  const client = connectH2(h.sockPath);
  const payload = 'm'.repeat(3 * 1024 * 1024);
  const [a, b] = await Promise.all([echo(client, '/x.sock', payload), echo(client, 'localhost', payload.slice(1))]);
  assert.equal(a.status, '0');
  assert.equal(a.reply?.s.length, payload.length);
  assert.equal(b.reply?.s.length, payload.length - 1);
  await closeClient(client);
});

test('end to end: a socket error mid-connection tears it down without crashing', async (t) => {
  const h = await startServer(true);
  t.after(() => h.close());
  const client = connectH2(h.sockPath);
  assert.equal((await echo(client, '/x.sock', 'before')).status, '0');
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  for (const sock of h.sockets) sock.destroy(new Error('simulated ECONNRESET'));
  await closed;

  const again = connectH2(h.sockPath);
  assert.equal((await echo(again, '/x.sock', 'after')).status, '0');
  await closeClient(again);
});
