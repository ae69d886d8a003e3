import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { once } from 'node:events';
import {
  CLIENT_PREFACE, ClientFrameFilter, FLAG_END_HEADERS, FLAG_END_STREAM, FRAME_CONTINUATION, FRAME_HEADERS, H2FilterError, encodeLiteralHeaderBlock, filterAuthority, type HeaderField,
} from '../../lib/server/h2-authority-filter.js';
import { BoundedHpackDecoder, HeaderListTooLargeError } from '../../lib/server/h2-header-decoder.js';

const MiB = 1024 * 1024;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** The block in as many HEADERS/CONTINUATION frames of 16 KiB as it takes. */
function headerFrames(streamId: number, block: Buffer): Buffer {
  const frames: Buffer[] = [];
  for (let off = 0; off < block.length || off === 0; off += 16384) {
    const last = off + 16384 >= block.length;
    frames.push(frame(off === 0 ? FRAME_HEADERS : FRAME_CONTINUATION, (last ? FLAG_END_HEADERS : 0) | (off === 0 ? FLAG_END_STREAM : 0), streamId, block.subarray(off, off + 16384)));
  }
  return Buffer.concat(frames);
}

/**
 * 64 KiB of HPACK that decodes to ~240 MB: one 4000-octet value put in the dynamic table, then
 * referenced by its one-octet index over and over. The authority is a socket path, which is what
 * made the filter re-encode the whole decoded list into one buffer.
 */
function amplificationBlock(): Buffer {
  const request = encodeLiteralHeaderBlock([
    { name: ':method', value: 'POST' }, { name: ':scheme', value: 'http' }, { name: ':path', value: '/x' }, { name: ':authority', value: '/run/runcri/runcri.sock' },
  ]);
  const value = 'a'.repeat(4000);
  const addToTable = Buffer.concat([Buffer.from([0x40, 1, 0x78, 0x7f]), encodeInt7(value.length - 127), Buffer.from(value, 'latin1')]);
  return Buffer.concat([request, addToTable, Buffer.alloc(60_000, 0x80 | 62)]);
}

/** The continuation octets of an HPACK integer past a full 7-bit prefix (RFC 7541 §5.1). */
function encodeInt7(rest: number): Buffer {
  const out: number[] = [];
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

function literal(fields: HeaderField[]): Buffer {
  return encodeLiteralHeaderBlock(fields);
}

test('64 KiB of HPACK that would decode to 240 MB is refused as it decodes, not after', () => {
  const emitted: Buffer[] = [];
  const filter = new ClientFrameFilter((d) => emitted.push(d));
  const before = process.memoryUsage().rss;
  filter.write(CLIENT_PREFACE);
  assert.throws(() => filter.write(headerFrames(1, amplificationBlock())), (err: unknown) => err instanceof H2FilterError && /header list exceeds 65536 octets/.test(err.message));
  assert.ok(emitted.every((d) => d.length < MiB), 'nothing large was emitted');
  assert.ok(process.memoryUsage().rss - before < 32 * MiB, 'memory did not follow the decoded size');
});

test('the decoded header list is capped at 64 KiB (RFC 9113 reckoning) and 128 fields; up to the caps decodes', () => {
  const fields = (n: number, valueBytes: number): HeaderField[] => Array.from({ length: n }, (_, i) => ({ name: `h${i}`, value: 'v'.repeat(valueBytes) }));
  assert.equal(new BoundedHpackDecoder(4096).decodeBlock(literal(fields(128, 1))).length, 128);
  assert.throws(() => new BoundedHpackDecoder(4096).decodeBlock(literal(fields(129, 1))), HeaderListTooLargeError);
  // One field: name 2 + value + 32 ≤ 65536.
  assert.equal(new BoundedHpackDecoder(4096).decodeBlock(literal([{ name: 'hh', value: 'v'.repeat(65536 - 34) }])).length, 1);
  assert.throws(() => new BoundedHpackDecoder(4096).decodeBlock(literal([{ name: 'hh', value: 'v'.repeat(65536 - 33) }])), HeaderListTooLargeError);
  // The counts are per block: a connection may send any number of blocks within them.
  const d = new BoundedHpackDecoder(4096);
  for (let i = 0; i < 50; i++) assert.equal(d.decodeBlock(literal(fields(100, 500))).length, 100);
});

test('a header block larger than 256 KiB compressed is refused from its frame headers', () => {
  const filter = new ClientFrameFilter(() => undefined);
  filter.write(CLIENT_PREFACE);
  const big = Buffer.alloc(300 * 1024, 0x82);
  assert.throws(() => filter.write(headerFrames(1, big)), /exceeds 262144 octets/);
});

test('a connection over the header limits is dropped; the server goes on serving the next one', { timeout: 20_000 }, async (t) => {
  const h2 = http2.createServer();
  h2.on('stream', (stream) => stream.respond({ ':status': 200 }, { endStream: true }));
  const dropped: H2FilterError[] = [];
  const listener = net.createServer((socket) => h2.emit('connection', filterAuthority(socket, { onProtocolError: (e) => dropped.push(e) })));
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as net.AddressInfo).port;
  t.after(() => {
    listener.close();
    h2.close();
  });

  const attacker = net.connect(port, '127.0.0.1');
  attacker.on('error', () => undefined);
  attacker.resume();
  await once(attacker, 'connect');
  attacker.write(Buffer.concat([CLIENT_PREFACE, frame(0x4, 0, 0, Buffer.alloc(0)), headerFrames(1, amplificationBlock())]));
  await once(attacker, 'close');
  assert.equal(dropped.length, 1);
  assert.match(dropped[0]!.message, /header list exceeds/);

  const client = http2.connect(`http://127.0.0.1:${port}`);
  const req = client.request({ ':path': '/' });
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  assert.equal(headers[':status'], 200);
  req.resume();
  await once(req, 'end');
  client.close();
});
