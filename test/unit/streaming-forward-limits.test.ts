import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { silentLogger } from '../../lib/log/index.js';
import { ForwardSlots } from '../../lib/streaming/forward-slots.js';
import { servePortForward } from '../../lib/streaming/spdy-port-forward.js';
import { SpdySession, encodeFrame } from '../../lib/streaming/spdy/index.js';
import { spdyForward } from '../helpers/streaming-client.js';

/** A TCP server on loopback that echoes, and keeps each connection until the client ends it. */
async function echoServer(): Promise<{ port: number; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * A port-forward connection as the daemon serves it (host network, so the pod's port is on
 * loopback and no nsenter is needed), and the client's side of it.
 */
async function forwardSession(slots: ForwardSlots, streamCreationTimeoutMs = 5000): Promise<{ client: SpdySession; server: SpdySession; done: () => Promise<void> }> {
  const listener = createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const accepted = new Promise<SpdySession>((resolve) => listener.once('connection', (s) => resolve(new SpdySession(s, 'server'))));
  const client = new SpdySession(connect((listener.address() as AddressInfo).port, '127.0.0.1'), 'client');
  const server = await accepted;
  servePortForward(server, { network: {}, podId: 'pod', streamCreationTimeoutMs, slots, log: silentLogger() });
  return {
    client,
    server,
    done: async () => {
      client.close();
      server.close();
      client.socket.destroy();
      server.socket.destroy();
      await new Promise((r) => listener.close(r));
    },
  };
}

test('forwarding slots are bounded per connection and on the node, and given back', () => {
  const slots = new ForwardSlots(2, 3);
  const a = slots.forConnection();
  const b = slots.forConnection();
  const a1 = a.take();
  const a2 = a.take();
  assert.match((a.take() as { refused: string }).refused, /on this streaming connection \(the limit is 2\)/);
  const b1 = b.take();
  assert.match((b.take() as { refused: string }).refused, /on the node \(the limit is 3\)/);
  assert.equal(slots.inUse, 3);
  for (const s of [a1, a2, b1]) if ('release' in s) s.release();
  if ('release' in a1) a1.release();
  assert.equal(slots.inUse, 0);
  assert.equal(a.inUse, 0);
});

test('a forward past the limits gets the error on its error stream and its data stream ends; the others run', { timeout: 20_000 }, async () => {
  const echo = await echoServer();
  const slots = new ForwardSlots(2, 3);
  const one = await forwardSession(slots);
  const two = await forwardSession(slots);
  try {
    // Two held open on the first connection, one on the second: the node's three slots.
    const held = [
      spdyForward(one.client, echo.port, 'a', Buffer.from('a\n'), false),
      spdyForward(one.client, echo.port, 'b', Buffer.from('b\n'), false),
      spdyForward(two.client, echo.port, 'c', Buffer.from('c\n'), false),
    ];
    while (echo.open() < 3) await new Promise((r) => setTimeout(r, 10));
    const perConnection = await spdyForward(one.client, echo.port, 'd', Buffer.from('d\n'));
    assert.match(perConnection.error, /^error forwarding port \d+ to pod pod: too many forwarded connections on this streaming connection/);
    assert.equal(perConnection.data.length, 0);
    const perNode = await spdyForward(two.client, echo.port, 'e', Buffer.from('e\n'));
    assert.match(perNode.error, /too many forwarded connections on the node \(the limit is 3\)/);
    assert.equal(echo.open(), 3, 'no process or connection was started for the refused ones');
    // Ending one gives its slot back.
    one.client.close();
    await Promise.allSettled(held.slice(0, 2));
    while (slots.inUse > 1) await new Promise((r) => setTimeout(r, 10));
    const again = await spdyForward(two.client, echo.port, 'f', Buffer.from('again\n'));
    assert.equal(again.data.toString(), 'again\n');
    assert.equal(again.error, '');
  } finally {
    await one.done();
    await two.done();
    await echo.close();
  }
});

test('a port-forward connection that opens no stream and sends nothing is closed after the stream creation timeout', { timeout: 20_000 }, async (t) => {
  const slots = new ForwardSlots();
  const quiet = await forwardSession(slots, 300);
  t.after(() => quiet.done());
  const started = Date.now();
  await new Promise((r) => quiet.client.once('close', r));
  const took = Date.now() - started;
  assert.ok(took >= 250 && took < 5000, `closed after ${took} ms`);
});

test('an idle port-forward connection whose client pings (as kubectl does), or that has a forward running, stays', { timeout: 20_000 }, async () => {
  const echo = await echoServer();
  const slots = new ForwardSlots();
  const pinging = await forwardSession(slots, 300);
  const busy = await forwardSession(slots, 300);
  try {
    const timer = setInterval(() => pinging.client.socket.write(encodeFrame({ kind: 'ping', id: 1 })), 100);
    const running = spdyForward(busy.client, echo.port, 'r', Buffer.from('x'), false);
    await new Promise((r) => setTimeout(r, 1200));
    clearInterval(timer);
    assert.equal(pinging.server.isClosed, false);
    assert.equal(busy.server.isClosed, false);
    busy.client.close();
    await running.catch(() => undefined);
    await new Promise((r) => pinging.client.once('close', r));
  } finally {
    await pinging.done();
    await busy.done();
    await echo.close();
  }
});
