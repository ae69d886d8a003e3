import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDeflate, inflateSync, constants as zc } from 'node:zlib';
import { createServer, connect, type AddressInfo } from 'node:net';
import {
  FrameParser, encodeFrame, HeaderCompressor, HeaderDecompressor, encodeHeaderBlock, decodeHeaderBlock, SPDY_DICTIONARY, SpdySession,
  type Frame,
} from '../../lib/streaming/spdy/index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Frames laid out by hand from the SPDY/3 draft (section 2.2 control/data frame headers, 2.6.x bodies).
const FIXTURES: { name: string; bytes: Buffer; frame: Exclude<Frame, { kind: 'unknown' }> }[] = [
  { name: 'DATA with FIN', bytes: hex('00000001 01000002 6869'), frame: { kind: 'data', streamId: 1, flags: 1, data: Buffer.from('hi') } },
  { name: 'PING', bytes: hex('80030006 00000004 00000001'), frame: { kind: 'ping', id: 1 } },
  { name: 'RST_STREAM CANCEL', bytes: hex('80030003 00000008 00000005 00000005'), frame: { kind: 'rst_stream', streamId: 5, status: 5 } },
  { name: 'GOAWAY', bytes: hex('80030007 00000008 00000003 00000000'), frame: { kind: 'goaway', lastGoodStreamId: 3, status: 0 } },
  {
    name: 'SETTINGS INITIAL_WINDOW_SIZE', bytes: hex('80030004 0000000c 00000001 00000007 00010000'),
    frame: { kind: 'settings', flags: 0, entries: [{ flags: 0, id: 7, value: 65536 }] },
  },
  { name: 'WINDOW_UPDATE', bytes: hex('80030009 00000008 00000001 00010000'), frame: { kind: 'window_update', streamId: 1, delta: 65536 } },
  {
    name: 'SYN_STREAM', bytes: hex('80030001 0000000e 00000003 00000000 0000 01020304'),
    frame: { kind: 'syn_stream', streamId: 3, associatedId: 0, priority: 0, flags: 0, headerBlock: hex('01020304') },
  },
  {
    name: 'SYN_STREAM unidirectional, FIN, priority 7', bytes: hex('80030001 0300000a 00000009 00000001 e000'),
    frame: { kind: 'syn_stream', streamId: 9, associatedId: 1, priority: 7, flags: 3, headerBlock: Buffer.alloc(0) },
  },
  { name: 'SYN_REPLY', bytes: hex('80030002 00000006 00000003 abcd'), frame: { kind: 'syn_reply', streamId: 3, flags: 0, headerBlock: hex('abcd') } },
];

test('each frame encodes to the bytes the spec lays out, and decodes back', () => {
  for (const f of FIXTURES) {
    assert.deepEqual(encodeFrame(f.frame), f.bytes, f.name);
    assert.deepEqual(new FrameParser().push(f.bytes), [f.frame], f.name);
  }
});

test('the parser reassembles frames split at every byte boundary', () => {
  const all = Buffer.concat(FIXTURES.map((f) => f.bytes));
  for (let step = 1; step <= 7; step++) {
    const parser = new FrameParser();
    const frames: Frame[] = [];
    for (let i = 0; i < all.length; i += step) frames.push(...parser.push(all.subarray(i, i + step)));
    assert.deepEqual(frames, FIXTURES.map((f) => f.frame), `step ${step}`);
  }
});

test('a control frame of an unknown type is skipped, not fatal; another SPDY version is', () => {
  assert.deepEqual(new FrameParser().push(hex('8003000f 00000002 abcd')), [{ kind: 'unknown', type: 15 }]);
  assert.throws(() => new FrameParser().push(hex('80020006 00000004 00000001')), /version 2/);
});

test('the SPDY/3 dictionary is the spec\'s 1423 bytes', () => {
  assert.equal(SPDY_DICTIONARY.length, 1423);
  assert.deepEqual(SPDY_DICTIONARY.subarray(0, 15), Buffer.from('\x00\x00\x00\x07options\x00\x00\x00\x04', 'latin1'));
  assert.ok(SPDY_DICTIONARY.toString('latin1').endsWith('utf-,*,enq=0.'));
});

test('a header block is count, then length-prefixed names and NUL-joined values', () => {
  const raw = encodeHeaderBlock(new Map([['streamtype', ['error']]]));
  assert.deepEqual(raw, Buffer.concat([hex('00000001 0000000a'), Buffer.from('streamtype'), hex('00000005'), Buffer.from('error')]));
  const multi = decodeHeaderBlock(encodeHeaderBlock(new Map([['X-Stream-Protocol-Version', ['v4.channel.k8s.io', 'v3.channel.k8s.io']]])));
  assert.deepEqual(multi.get('x-stream-protocol-version'), ['v4.channel.k8s.io', 'v3.channel.k8s.io']);
});

test('header blocks compressed by a real zlib peer (one stream, sync flush) decode in order', async () => {
  const deflate = createDeflate({ dictionary: SPDY_DICTIONARY });
  const blocks: Buffer[] = [];
  for (const type of ['error', 'stdin', 'stdout']) {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => chunks.push(c);
    deflate.on('data', onData);
    deflate.write(encodeHeaderBlock(new Map([['streamtype', [type]], ['port', ['8080']]])));
    await new Promise<void>((r) => deflate.flush(zc.Z_SYNC_FLUSH, () => r()));
    deflate.off('data', onData);
    blocks.push(Buffer.concat(chunks));
  }
  const d = new HeaderDecompressor();
  for (const [i, type] of ['error', 'stdin', 'stdout'].entries()) {
    const h = await d.decompress(blocks[i]!);
    assert.deepEqual(h.get('streamtype'), [type]);
    assert.deepEqual(h.get('port'), ['8080']);
  }
  d.close();
});

test('our compressed header blocks form one zlib stream a standard inflater reads block by block', () => {
  const c = new HeaderCompressor();
  const first = c.compress(encodeHeaderBlock(new Map([['streamtype', ['error']]])));
  const second = c.compress(encodeHeaderBlock(new Map()));
  // The zlib header names the dictionary (FDICT); each block ends byte-aligned like a sync flush.
  assert.equal(first[0], 0x78);
  assert.equal((first[0]! * 256 + first[1]!) % 31, 0);
  assert.ok(first[1]! & 0x20);
  const all = inflateSync(Buffer.concat([first, second]), { dictionary: SPDY_DICTIONARY, finishFlush: zc.Z_SYNC_FLUSH });
  assert.deepEqual(decodeHeaderBlock(all).get('streamtype'), ['error']);
  assert.deepEqual(all.subarray(all.length - 4), hex('00000000'));
});

test('every compressed header block ends with the empty stored block of a sync flush, so a streaming inflater never reads past the frame', () => {
  const c = new HeaderCompressor();
  for (const headers of [new Map([['streamtype', ['error']]]), new Map(), new Map([['x', ['y'.repeat(70_000)]]])]) {
    const block = c.compress(encodeHeaderBlock(headers));
    assert.deepEqual(block.subarray(block.length - 5), hex('000000ffff'));
  }
});

test('a session carries large writes both ways and honours FIN and RST', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const serverSide = new Promise<SpdySession>((resolve) => server.once('connection', (s) => resolve(new SpdySession(s, 'server'))));
  const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const client = new SpdySession(sock, 'client');
  const srv = await serverSide;
  const echoed = new Promise<void>((resolve) => srv.on('stream', (s) => {
    s.pipe(s);
    s.once('finish', resolve);
  }));
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  const stream = await client.openStream(new Map([['streamtype', ['data']]]));
  const back: Buffer[] = [];
  stream.on('data', (d: Buffer) => back.push(d));
  const ended = new Promise((r) => stream.once('end', r));
  stream.end(big);
  await Promise.all([echoed, ended]);
  assert.equal(Buffer.concat(back).length, big.length);
  const reset = await client.openStream(new Map([['streamtype', ['x']]]));
  const closed = new Promise((r) => reset.once('close', r));
  srv.once('stream', (s) => s.destroy());
  const victim = await client.openStream(new Map([['streamtype', ['y']]]));
  await new Promise((r) => victim.once('close', r));
  reset.destroy();
  await closed;
  client.close();
  await new Promise((r) => srv.once('close', r));
  server.close();
});
