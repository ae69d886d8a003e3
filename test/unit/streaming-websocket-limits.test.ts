import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { ChannelDemux, Opcode, WsConnection, WsFrameParser, encodeWsFrame, base64Channels, binaryChannels, type WsConnectionOptions, type WsFrame } from '../../lib/streaming/websocket/index.js';
import { StreamingLimits } from '../../lib/streaming/limits.js';

const MiB = 1024 * 1024;

interface RawWsPair {
  server: Server;
  conn: WsConnection;
  socket: Socket;
  received: WsFrame[];
  closed: Promise<void>;
  send(opcode: number, payload: Buffer, fin?: boolean): boolean;
  end(): Promise<void>;
}

/** A server-side WsConnection and a raw client socket that masks what it sends and parses what comes back. */
async function rawWsPair(options: Partial<WsConnectionOptions> = {}): Promise<RawWsPair> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<WsConnection>((resolve) => server.once('connection', (s) => resolve(new WsConnection(s, 'server', undefined, options))));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.on('error', () => undefined);
  const conn = await accepted;
  const parser = new WsFrameParser(false, 1 << 20);
  const received: WsFrame[] = [];
  socket.on('data', (chunk: Buffer) => received.push(...parser.push(chunk)));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    server, conn, socket, received, closed,
    send: (opcode, payload, fin = true) => socket.write(encodeWsFrame(opcode, payload, { fin, mask: randomBytes(4) })),
    async end() {
      socket.destroy();
      conn.close();
      // A closed connection's socket may be left to its idle timer; a test does not wait for that.
      conn.socket.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function closeCode(frames: WsFrame[]): number | undefined {
  const close = frames.find((f) => f.opcode === Opcode.CLOSE);
  return close && close.payload.readUInt16BE(0);
}

test('300 non-final 1 MiB fragments: the connection closes with 1009 once the message passes its cap, holding none of it', { timeout: 20_000 }, async (t) => {
  const pair = await rawWsPair();
  t.after(() => pair.end());
  let delivered = 0;
  let messages = 0;
  pair.conn.on('data', (piece: Buffer) => (delivered += piece.length));
  pair.conn.on('message', () => messages++);
  const fragment = Buffer.alloc(MiB, 0x41);
  const before = process.memoryUsage().rss;
  // A client that reads the server's close stops sending, as this one does.
  const closeSeen = () => closeCode(pair.received) !== undefined || pair.socket.destroyed;
  for (let i = 0; i < 300 && !closeSeen(); i++) {
    if (!pair.send(i === 0 ? Opcode.BINARY : Opcode.CONTINUATION, fragment, false)) {
      while (pair.socket.writableLength > 0 && !closeSeen()) await new Promise((r) => setTimeout(r, 5));
    }
  }
  for (const deadline = Date.now() + 5000; !closeSeen() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
  assert.equal(closeCode(pair.received), 1009);
  assert.ok(delivered <= StreamingLimits.wsMessageBytes, `passed on ${delivered} bytes`);
  assert.equal(messages, 0, 'the server side never assembles messages');
  assert.ok(process.memoryUsage().rss - before < 96 * MiB, 'memory did not follow the fragments');
});

test('the client side, which assembles messages, is held to the same cap', { timeout: 20_000 }, async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const peer = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = new WsConnection(connect((server.address() as AddressInfo).port, '127.0.0.1'), 'client', undefined, { maxMessage: 64 * 1024 });
  const raw = await peer;
  t.after(() => {
    raw.destroy();
    client.socket.destroy();
    server.close();
  });
  const back: WsFrame[] = [];
  const parser = new WsFrameParser(true, 1 << 20);
  raw.on('data', (c: Buffer) => back.push(...parser.push(c)));
  for (let i = 0; i < 10; i++) raw.write(encodeWsFrame(i === 0 ? Opcode.TEXT : Opcode.CONTINUATION, Buffer.alloc(10_000, 0x61), { fin: false }));
  await new Promise((r) => client.once('close', r));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(closeCode(back), 1009);
});

test('a frame announcing more than the cap is refused with 1009 from its header', { timeout: 20_000 }, async (t) => {
  const pair = await rawWsPair();
  t.after(() => pair.end());
  const head = Buffer.alloc(14);
  head[0] = 0x82;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(1) << BigInt(40), 2);
  pair.socket.write(head);
  await pair.closed;
  assert.equal(closeCode(pair.received), 1009);
});

test('frames larger than the piece size are handed on in pieces, unmasked right across any chunking', () => {
  for (const chunkSize of [1, 7, 4096, 65536, 200_000]) {
    const parser = new WsFrameParser(true, 16 * MiB, 64 * 1024);
    const payload = randomBytes(chunkSize === 1 ? 300_000 : 1_000_003);
    const wire = Buffer.concat([
      encodeWsFrame(Opcode.BINARY, payload.subarray(0, 500), { fin: false, mask: randomBytes(4) }),
      encodeWsFrame(Opcode.CONTINUATION, payload.subarray(500), { fin: true, mask: randomBytes(4) }),
      encodeWsFrame(Opcode.PING, Buffer.from('p'), { mask: randomBytes(4) }),
    ]);
    const frames: WsFrame[] = [];
    for (let off = 0; off < wire.length; off += chunkSize) {
      frames.push(...parser.push(wire.subarray(off, off + chunkSize)));
      assert.ok(parser.buffered <= 64 * 1024 + 14 + chunkSize, `parser holds ${parser.buffered} bytes`);
    }
    const data = frames.filter((f) => f.opcode !== Opcode.PING);
    assert.equal(data[0]!.opcode, Opcode.BINARY);
    assert.ok(data.slice(1).every((f) => f.opcode === Opcode.CONTINUATION));
    assert.deepEqual(data.map((f) => f.fin), data.map((_, i) => i === data.length - 1));
    assert.ok(Buffer.concat(data.map((f) => f.payload)).equals(payload), `chunk size ${chunkSize}`);
    assert.equal(frames.at(-1)!.opcode, Opcode.PING);
  }
});

test('channel messages read piece by piece decode exactly as whole ones, binary and base64', () => {
  const data = randomBytes(10_007);
  for (const [codec, base64] of [[binaryChannels, false], [base64Channels, true]] as const) {
    const { payload, text } = codec.encode(3, data);
    const whole = codec.decode(payload, text)!;
    for (const cut of [1, 2, 3, 5, 1000, payload.length]) {
      const demux = new ChannelDemux(base64);
      const parts: Buffer[] = [];
      for (let off = 0; off < payload.length; off += cut) {
        const last = off + cut >= payload.length;
        const piece = demux.push(payload.subarray(off, off + cut), off === 0, last);
        if (piece) {
          assert.equal(piece.channel, whole.channel);
          parts.push(piece.data);
        }
      }
      assert.ok(Buffer.concat(parts).equals(whole.data), `${base64 ? 'base64' : 'binary'} in pieces of ${cut}`);
    }
  }
  // A base64 message naming no channel is ignored to its end, and the next one read.
  const demux = new ChannelDemux(true);
  assert.equal(demux.push(Buffer.from('x'), true, false), undefined);
  assert.equal(demux.push(Buffer.from('aGk='), false, true), undefined);
  assert.deepEqual(demux.push(Buffer.from('0aGk='), true, true), { channel: 0, data: Buffer.from('hi'), last: true });
});

/** A socket whose peer never reads: every write stays queued. */
function stalledSocket(): Socket {
  const sock = new Duplex({ read() {}, write() {} });
  return Object.assign(sock, { setNoDelay: () => sock }) as unknown as Socket;
}

test('a peer that floods PINGs and never reads stops being read once the PONGs back up', { timeout: 20_000 }, async (t) => {
  const backlog = 256 * 1024;
  const socket = stalledSocket();
  const conn = new WsConnection(socket, 'server', undefined, { sendBacklogBytes: backlog });
  t.after(() => {
    conn.close();
    socket.destroy();
  });
  // 64 KiB of 125-byte PINGs at a time, as one socket read would bring them.
  const pings = Buffer.concat(Array.from({ length: 496 }, () => encodeWsFrame(Opcode.PING, Buffer.alloc(125), { mask: randomBytes(4) })));
  let peak = 0;
  for (let i = 0; i < 64; i++) {
    socket.push(pings);
    await new Promise((r) => setImmediate(r));
    peak = Math.max(peak, socket.writableLength);
  }
  assert.ok(socket.isPaused(), 'the connection stopped reading');
  assert.ok(socket.readableLength >= 32 * pings.length, `${socket.readableLength} bytes of PINGs were left unread`);
  assert.ok(peak <= backlog + pings.length, `unsent PONGs peaked at ${peak} bytes`);
});
