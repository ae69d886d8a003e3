/**
 * Seeded fuzzing of the streaming server's parsers and connections (see test/helpers/fuzz.ts
 * for replaying a seed). Inputs are valid SPDY and WebSocket traffic, sometimes with header
 * bombs and oversized messages in it, then mutated and cut into random chunks. Whatever comes
 * in: no exception other than the protocol's own error, nothing escapes as an uncaught
 * exception or unhandled rejection, no buffer grows past its cap, and RSS stays bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  FrameParser, HeaderDecompressor, SpdyProtocolError, SpdySession, encodeFrame, encodeHeaderBlock, type Frame, type SpdyStream,
} from '../../lib/streaming/spdy/index.js';
import { ChannelDemux, ChannelReader, Opcode, WsConnection, WsFrameParser, WsProtocolError, encodeWsFrame } from '../../lib/streaming/websocket/index.js';
import { StreamingLimits as L } from '../../lib/streaming/limits.js';
import { Rng, chunked, describeRun, fuzz, mutate } from '../helpers/fuzz.js';
import { RawHeaderDeflater, oneHeaderPrefix, synStream } from '../helpers/spdy-raw.js';

const MiB = 1024 * 1024;
const SECONDS = 3;
/** The WebSocket message cap under fuzzing: small, so that messages around it are cheap to make. */
const WS_MESSAGE_CAP = 1 * MiB;
/** Far below what one unbounded header bomb (256 MiB) or fragment pile (300 MiB) costs. */
const RSS_BOUND = 160 * MiB;

// ---------------------------------------------------------------------------------------------
// SPDY
// ---------------------------------------------------------------------------------------------

const STREAM_TYPES = ['error', 'stdin', 'stdout', 'stderr', 'resize', 'data', 'bogus'];

/** A plausible client's bytes: streams opened, data, pings, resets, settings, now and then a header bomb. */
async function spdyTraffic(rng: Rng, deflater: RawHeaderDeflater): Promise<Buffer> {
  const parts: Buffer[] = [];
  const ids: number[] = [];
  let nextId = 1;
  const frames = rng.range(1, 24);
  for (let n = 0; n < frames; n++) {
    const streamId = ids.length > 0 && rng.chance(0.8) ? rng.pick(ids) : rng.range(0, 2000);
    switch (rng.int(10)) {
      case 0:
      case 1:
      case 2: {
        const h = new Map<string, string[]>([['streamtype', [rng.pick(STREAM_TYPES)]], ['port', [String(rng.range(0, 70000))]], ['requestid', [String(rng.int(5))]]]);
        for (let i = rng.int(rng.chance(0.1) ? 200 : 4); i > 0; i--) h.set(`x-${i}`, [rng.bytes(rng.size(64)).toString('latin1')]);
        const id = rng.chance(0.9) ? nextId : rng.range(0, 40);
        nextId += 2;
        ids.push(id);
        parts.push(synStream(id, await deflater.block(encodeHeaderBlock(h)), rng.int(4)));
        break;
      }
      case 3: {
        const bytes = rng.size(600_000);
        const data = rng.chance(0.5) ? rng.bytes(Math.min(bytes, 4096)) : Buffer.alloc(bytes, rng.int(256));
        parts.push(encodeFrame({ kind: 'data', streamId, flags: rng.chance(0.3) ? 1 : 0, data }));
        break;
      }
      case 4:
        parts.push(encodeFrame({ kind: 'ping', id: rng.u32() }));
        break;
      case 5:
        parts.push(encodeFrame({ kind: 'rst_stream', streamId, status: rng.range(0, 12) }));
        break;
      case 6:
        parts.push(encodeFrame({ kind: 'settings', flags: rng.int(2), entries: Array.from({ length: rng.int(6) }, () => ({ flags: rng.int(4), id: rng.range(1, 8), value: rng.u32() })) }));
        break;
      case 7:
        parts.push(encodeFrame({ kind: rng.chance(0.5) ? 'window_update' : 'goaway', streamId, delta: rng.u32(), lastGoodStreamId: streamId, status: rng.int(3) } as never));
        break;
      case 8:
        parts.push(encodeFrame({ kind: 'headers', streamId, flags: rng.int(2), headerBlock: await deflater.block(encodeHeaderBlock(new Map([['k', ['v']]]))) }));
        break;
      case 9:
        if (rng.chance(0.3)) {
          // A header bomb: up to 2 MiB of one value in a few KiB.
          const bytes = rng.range(L.spdyHeaderBlockBytes - 1024, 2 * MiB);
          parts.push(synStream(nextId, await deflater.block({ prefix: oneHeaderPrefix('x', bytes), fill: 0x61, bytes })));
          nextId += 2;
        } else {
          const body = rng.bytes(rng.size(64));
          const head = Buffer.alloc(8);
          head.writeUInt16BE(0x8003, 0);
          head.writeUInt16BE(rng.range(10, 30), 2);
          head.writeUInt32BE(body.length, 4);
          parts.push(head, body);
        }
        break;
    }
  }
  const wire = Buffer.concat(parts);
  return rng.chance(0.7) ? mutate(rng, wire) : wire;
}

test('fuzz: the SPDY frame parser and header decompressor take any input within their caps', async (t) => {
  const report = await fuzz('spdy parser+decompressor', { seconds: SECONDS, maxRssGrowth: RSS_BOUND }, async (rng) => {
    const deflater = new RawHeaderDeflater();
    const wire = await spdyTraffic(rng, deflater);
    deflater.close();
    const parser = new FrameParser({ maxControlPayload: L.spdyControlFrameBytes, dataPiece: L.framePieceBytes });
    const d = new HeaderDecompressor({ maxBlockBytes: L.spdyHeaderBlockBytes, maxValues: L.spdyHeaderValues });
    let decompressing = true;
    try {
      for (const chunk of chunked(rng, wire)) {
        let frames: Frame[];
        try {
          frames = parser.push(chunk);
        } catch (err) {
          if (err instanceof SpdyProtocolError) break;
          throw err;
        }
        assert.ok(parser.buffered < 8 + Math.max(L.spdyControlFrameBytes, L.framePieceBytes), `parser holds ${parser.buffered} bytes`);
        for (const f of frames) {
          if (!('headerBlock' in f) || !decompressing) continue;
          const inflatedBefore = d.inflatedTotal;
          try {
            const h = await d.decompress(f.headerBlock);
            let bytes = 0;
            let values = 0;
            for (const [name, vs] of h) {
              bytes += name.length;
              for (const v of vs) {
                bytes += v.length;
                values++;
              }
            }
            assert.ok(bytes <= L.spdyHeaderBlockBytes && values <= L.spdyHeaderValues, `a block of ${bytes} bytes, ${values} values came through`);
          } catch (err) {
            if (!(err instanceof SpdyProtocolError)) throw err;
            decompressing = false;
          }
          assert.ok(d.inflatedTotal - inflatedBefore <= L.spdyHeaderBlockBytes + 64 * 1024, `one block inflated ${d.inflatedTotal - inflatedBefore} bytes`);
        }
      }
    } finally {
      d.close();
    }
  });
  t.diagnostic(describeRun('spdy parser+decompressor', report));
});

/** What a server-side stream's user might do with it: read it, echo it, drop it, or leave it unread. */
function handleStream(rng: Rng, s: SpdyStream): void {
  switch (rng.int(4)) {
    case 0:
      s.resume();
      break;
    case 1:
      s.pipe(s);
      break;
    case 2:
      setTimeout(() => s.destroy(), rng.int(5));
      break;
    default:
      break;
  }
}

async function loopback(): Promise<{ server: Server; port: number; next: () => Promise<Socket> }> {
  const server = createServer();
  const waiting: ((s: Socket) => void)[] = [];
  server.on('connection', (s) => waiting.shift()?.(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, next: () => new Promise((resolve) => waiting.push(resolve)) };
}

/** Writes the chunks, now and then yielding so the server reads between them; then ends or drops the connection. */
async function play(rng: Rng, client: Socket, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) {
    if (client.destroyed) return;
    if (!client.write(c)) {
      // A server that has stopped reading (a stalled reader, a limit) will not read the rest either.
      const drained = await Promise.race([new Promise<boolean>((r) => client.once('drain', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 20))]);
      if (!drained) break;
    }
    if (rng.chance(0.2)) await new Promise((r) => setImmediate(r));
  }
  if (rng.chance(0.5)) client.end();
  else client.destroy();
}

test('fuzz: a SPDY session over a real socket survives any client bytes', async (t) => {
  const net = await loopback();
  try {
    const report = await fuzz('spdy session', { seconds: SECONDS, maxRssGrowth: RSS_BOUND }, async (rng) => {
      const deflater = new RawHeaderDeflater();
      const wire = await spdyTraffic(rng, deflater);
      deflater.close();
      const accepted = net.next();
      const client = connect(net.port, '127.0.0.1');
      client.on('error', () => undefined);
      client.resume();
      const session = new SpdySession(await accepted, 'server');
      session.on('stream', (s: SpdyStream) => handleStream(rng, s));
      await play(rng, client, chunked(rng, wire));
      // A session whose reader is stalled does not see the end; the idle timeout would end it.
      const ended = await Promise.race([new Promise<boolean>((r) => session.once('close', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 30))]);
      if (!ended) session.close();
      assert.ok(session.isClosed);
      client.destroy();
      session.socket.destroy();
    });
    t.diagnostic(describeRun('spdy session', report));
  } finally {
    net.server.close();
  }
});

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

/** A plausible client's frames: channel messages (some fragmented, some large), pings, a close. */
function wsTraffic(rng: Rng): Buffer {
  const parts: Buffer[] = [];
  const messages = rng.range(1, 16);
  for (let n = 0; n < messages; n++) {
    const kind = rng.int(10);
    if (kind < 7) {
      const size = rng.chance(0.1) ? rng.range(WS_MESSAGE_CAP - 4096, WS_MESSAGE_CAP + 4096) : rng.size(400_000);
      const body = size > 8192 ? Buffer.alloc(size, rng.int(256)) : rng.bytes(size);
      const message = Buffer.concat([Buffer.of(rng.pick([0, 0, 0, 2, 4, 255, rng.int(256)])), body]);
      const text = rng.chance(0.2);
      const pieces = rng.chance(0.3) ? rng.range(2, 6) : 1;
      const step = Math.ceil(message.length / pieces);
      for (let i = 0; i < pieces; i++) {
        const last = i === pieces - 1;
        parts.push(encodeWsFrame(i === 0 ? (text ? Opcode.TEXT : Opcode.BINARY) : Opcode.CONTINUATION, message.subarray(i * step, (i + 1) * step), { fin: last, mask: rng.bytes(4) }));
      }
    } else if (kind < 9) {
      parts.push(encodeWsFrame(rng.chance(0.5) ? Opcode.PING : Opcode.PONG, rng.bytes(rng.int(126)), { mask: rng.bytes(4) }));
    } else {
      const body = Buffer.alloc(2);
      body.writeUInt16BE(rng.pick([1000, 1001, 1005, 1011, rng.int(65536)]));
      parts.push(encodeWsFrame(Opcode.CLOSE, body, { mask: rng.bytes(4) }));
    }
  }
  const wire = Buffer.concat(parts);
  return rng.chance(0.7) ? mutate(rng, wire) : wire;
}

test('fuzz: the WebSocket frame parser takes any input within its caps', async (t) => {
  const report = await fuzz('websocket parser', { seconds: SECONDS, maxRssGrowth: RSS_BOUND }, (rng) => {
    const parser = new WsFrameParser(true, WS_MESSAGE_CAP, L.framePieceBytes);
    for (const chunk of chunked(rng, wsTraffic(rng))) {
      try {
        for (const f of parser.push(chunk)) {
          if (f.opcode >= 0x8) assert.ok(f.payload.length <= 125 && f.fin, 'control frames come whole and short');
        }
      } catch (err) {
        if (err instanceof WsProtocolError) break;
        throw err;
      }
      assert.ok(parser.buffered < 14 + L.framePieceBytes, `parser holds ${parser.buffered} bytes`);
    }
  });
  t.diagnostic(describeRun('websocket parser', report));
});

test('fuzz: a WebSocket connection over a real socket survives any client bytes and holds no message', async (t) => {
  const net = await loopback();
  try {
    const report = await fuzz('websocket connection', { seconds: SECONDS, maxRssGrowth: RSS_BOUND }, async (rng) => {
      const accepted = net.next();
      const client = connect(net.port, '127.0.0.1');
      client.on('error', () => undefined);
      const closeCodes: number[] = [];
      const back = new WsFrameParser(false, 1 << 20);
      client.on('data', (c: Buffer) => {
        try {
          for (const f of back.push(c)) if (f.opcode === Opcode.CLOSE && f.payload.length >= 2) closeCodes.push(f.payload.readUInt16BE(0));
        } catch {
          // the server's frames are not what is under test
        }
      });
      const conn = new WsConnection(await accepted, 'server', undefined, { maxMessage: WS_MESSAGE_CAP });
      const demux = new ChannelDemux(rng.chance(0.3));
      const stdin = new ChannelReader(conn);
      if (rng.chance(0.7)) stdin.resume();
      let messageBytes = 0;
      conn.on('data', (piece: Buffer, _text: boolean, first: boolean, last: boolean) => {
        messageBytes = (first ? 0 : messageBytes) + piece.length;
        assert.ok(messageBytes <= WS_MESSAGE_CAP, `a message of ${messageBytes} bytes was let through`);
        const d = demux.push(piece, first, last);
        if (d?.channel === 0) stdin.deliver(d.data);
      });
      await play(rng, client, chunked(rng, wsTraffic(rng)));
      const ended = await Promise.race([new Promise<boolean>((r) => conn.once('close', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 30))]);
      if (!ended) conn.close(1001);
      for (const code of closeCodes) assert.ok((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code < 5000), `close code ${code}`);
      stdin.destroy();
      client.destroy();
      conn.socket.destroy();
    });
    t.diagnostic(describeRun('websocket connection', report));
  } finally {
    net.server.close();
  }
});
