/**
 * Seeded fuzzing of the HTTP/2 :authority filter (see test/helpers/fuzz.ts for replaying a seed):
 * client traffic with real HPACK (Huffman, dynamic table, size updates, amplifying references),
 * split into HEADERS and CONTINUATION frames with padding and priority, mixed with other frames,
 * then mutated and cut into random chunks. The filter may only fail with H2FilterError, never
 * emits a buffer larger than its caps allow, and a server behind it keeps serving.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { once } from 'node:events';
import hpack from 'hpack.js';
import type { HpackCompressor, HpackFieldToEncode } from 'hpack.js';
import { CLIENT_PREFACE, ClientFrameFilter, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY, FRAME_CONTINUATION, FRAME_HEADERS, H2FilterError, filterAuthority } from '../../lib/server/h2-authority-filter.js';
import { Rng, chunked, describeRun, fuzz, mutate } from '../helpers/fuzz.js';

const MiB = 1024 * 1024;
const SECONDS = 3;
const RSS_BOUND = 160 * MiB;
/** What the filter may hold and emit at once: a held block (256 KiB) or a re-encoded list (64 KiB) in frames. */
const EMIT_BOUND = 512 * 1024;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([header, payload]);
}

const AUTHORITIES = ['localhost', '/run/runcri/runcri.sock', '%2Frun%2Fx.sock', '', 'host:1234', '[::1]:80', 'ünïcode'];

function requestFields(rng: Rng): HpackFieldToEncode[] {
  const fields: HpackFieldToEncode[] = [
    { name: ':method', value: 'POST' }, { name: ':scheme', value: 'http' }, { name: ':path', value: `/runtime.v1.RuntimeService/${rng.pick(['Version', 'Status', 'X'])}` },
  ];
  if (rng.chance(0.8)) fields.push({ name: ':authority', value: rng.pick(AUTHORITIES) });
  fields.push({ name: 'content-type', value: 'application/grpc' }, { name: 'te', value: 'trailers' });
  const extra = rng.chance(0.1) ? rng.range(100, 140) : rng.int(6);
  for (let i = 0; i < extra; i++) {
    const big = rng.chance(0.02);
    fields.push({
      name: `x-${rng.int(50)}`,
      value: big ? 'v'.repeat(rng.range(1000, 70_000)) : rng.bytes(rng.size(40)).toString('latin1'),
      neverIndex: rng.chance(0.1), incremental: rng.chance(0.7), huffman: rng.chance(0.7),
    });
  }
  return fields;
}

/** Indexed references to one large dynamic table entry: a few bytes that decode to a lot. */
function amplifying(rng: Rng): Buffer {
  const value = Buffer.alloc(3000, 0x61);
  const add = Buffer.concat([Buffer.from([0x40, 1, 0x78, 0x7f, (value.length - 127) % 128 | 0x80, Math.floor((value.length - 127) / 128)]), value]);
  return Buffer.concat([add, Buffer.alloc(rng.range(1, 40_000), 0x80 | 62)]);
}

/** A block split into HEADERS + CONTINUATIONs of random sizes, sometimes padded or with priority. */
function headerFrames(rng: Rng, streamId: number, block: Buffer): Buffer {
  const frames: Buffer[] = [];
  let off = 0;
  let first = true;
  do {
    const size = rng.range(1, 16384);
    const piece = block.subarray(off, off + size);
    off += piece.length;
    const last = off >= block.length;
    let flags = last ? FLAG_END_HEADERS : 0;
    let payload = piece;
    if (first) {
      flags |= rng.chance(0.5) ? FLAG_END_STREAM : 0;
      if (rng.chance(0.2)) {
        flags |= FLAG_PRIORITY;
        payload = Buffer.concat([rng.bytes(5), payload]);
      }
      if (rng.chance(0.2)) {
        const pad = rng.int(20);
        flags |= FLAG_PADDED;
        payload = Buffer.concat([Buffer.of(pad), payload, Buffer.alloc(pad)]);
      }
    }
    frames.push(frame(first ? FRAME_HEADERS : FRAME_CONTINUATION, flags, streamId, payload));
    first = false;
  } while (off < block.length);
  return Buffer.concat(frames);
}

function clientTraffic(rng: Rng): Buffer {
  const compressor: HpackCompressor = hpack.compressor.create({ table: { maxSize: 4096 } });
  const parts: Buffer[] = [CLIENT_PREFACE, frame(0x4, 0, 0, Buffer.alloc(0))];
  let streamId = 1;
  for (let n = rng.range(1, 10); n > 0; n--) {
    switch (rng.int(6)) {
      case 0:
      case 1:
      case 2: {
        compressor.write(requestFields(rng));
        parts.push(headerFrames(rng, streamId, compressor.read() ?? Buffer.alloc(0)));
        streamId += 2;
        break;
      }
      case 3:
        // The client's table now differs from the compressor's; later blocks decode wrongly, which is fine here.
        parts.push(headerFrames(rng, streamId, amplifying(rng)));
        streamId += 2;
        break;
      case 4:
        parts.push(frame(0x0, rng.int(2), Math.max(1, streamId - 2), rng.bytes(rng.size(20_000))));
        break;
      case 5:
        parts.push(frame(rng.pick([0x2, 0x3, 0x6, 0x8, 0xa]), rng.int(256), rng.int(10), rng.bytes(rng.size(16))));
        break;
    }
  }
  const wire = Buffer.concat(parts);
  return rng.chance(0.7) ? mutate(rng, wire) : wire;
}

test('fuzz: the :authority frame filter takes any client bytes and emits nothing past its caps', async (t) => {
  const report = await fuzz('h2 filter', { seconds: SECONDS, maxRssGrowth: RSS_BOUND }, (rng) => {
    let largest = 0;
    let inputChunk = 0;
    const filter = new ClientFrameFilter((d) => {
      assert.ok(d.length <= Math.max(inputChunk, EMIT_BOUND), `emitted ${d.length} bytes at once`);
      largest = Math.max(largest, d.length);
    });
    for (const chunk of chunked(rng, clientTraffic(rng))) {
      inputChunk = chunk.length;
      try {
        filter.write(chunk);
      } catch (err) {
        if (err instanceof H2FilterError) break;
        throw err;
      }
    }
  });
  t.diagnostic(describeRun('h2 filter', report));
});

test('fuzz: a real HTTP/2 server behind the filter survives any client bytes and keeps answering', async (t) => {
  const h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.on('error', () => undefined);
    // The fuzzed client may have reset the stream (or the connection) already.
    if (!stream.destroyed && !stream.closed) stream.respond({ ':status': 200 }, { endStream: true });
  });
  h2.on('sessionError', () => undefined);
  const listener = net.createServer((socket) => {
    socket.on('error', () => undefined);
    h2.emit('connection', filterAuthority(socket));
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as net.AddressInfo).port;
  try {
    const report = await fuzz('h2 filter + server', { seconds: SECONDS, maxRssGrowth: RSS_BOUND }, async (rng, i) => {
      const client = net.connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      client.resume();
      await new Promise((r) => {
        client.once('connect', r);
        client.once('close', r);
      });
      for (const chunk of chunked(rng, clientTraffic(rng))) {
        if (client.destroyed) break;
        client.write(chunk);
        if (rng.chance(0.3)) await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => {
        client.once('close', r);
        setTimeout(r, 20);
      });
      client.destroy();
      if (i % 10 === 0) {
        const probe = http2.connect(`http://127.0.0.1:${port}`);
        probe.on('error', () => undefined);
        const req = probe.request({ ':path': '/' });
        const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
        assert.equal(headers[':status'], 200);
        req.resume();
        await once(req, 'end');
        probe.close();
      }
    });
    t.diagnostic(describeRun('h2 filter + server', report));
  } finally {
    listener.close();
    h2.close();
  }
});
