import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { TerminalSizes } from '../../lib/streaming/command-streams.js';
import { acceptSpdyCommand } from '../../lib/streaming/spdy-remote-command.js';
import { wsCommandStreams } from '../../lib/streaming/ws-remote-command.js';
import { SpdySession } from '../../lib/streaming/spdy/index.js';
import { WsConnection } from '../../lib/streaming/websocket/index.js';
import type { TerminalSize } from '../../lib/streaming/protocol.js';

/** Both ends of one loopback TCP connection. */
async function socketPair(): Promise<{ server: Socket; client: Socket; close(): void }> {
  const listener = createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  return { server, client, close: () => { client.destroy(); server.destroy(); listener.close(); } };
}

/** What a session that subscribes only after `lateMs` hears. */
async function heardLate(subscribe: (l: (s: TerminalSize) => void) => void, lateMs: number): Promise<TerminalSize[]> {
  await new Promise((r) => setTimeout(r, lateMs));
  const heard: TerminalSize[] = [];
  subscribe((s) => heard.push(s));
  return heard;
}

test('a terminal size sent before the session listens is handed to it when it does; later ones as they come', () => {
  const sizes = new TerminalSizes();
  sizes.push({ width: 80, height: 24 });
  sizes.push({ width: 100, height: 30 });
  const first: TerminalSize[] = [];
  sizes.listen((s) => first.push(s));
  assert.deepEqual(first, [{ width: 100, height: 30 }]);
  const second: TerminalSize[] = [];
  sizes.listen((s) => second.push(s));
  sizes.push({ width: 120, height: 40 });
  assert.deepEqual(first, [{ width: 100, height: 30 }, { width: 120, height: 40 }]);
  assert.deepEqual(second, [{ width: 100, height: 30 }, { width: 120, height: 40 }]);
  const none = new TerminalSizes();
  none.listen(() => assert.fail('no size was sent'));
});

test('SPDY: the size a client sends right after opening its streams reaches a session that subscribes later (attach)', async () => {
  const pair = await socketPair();
  const server = new SpdySession(pair.server, 'server');
  const client = new SpdySession(pair.client, 'client');
  try {
    const accepted = acceptSpdyCommand(server, 'v4.channel.k8s.io', { stdin: false, stdout: true, stderr: false, tty: true }, 5000, ['sh']);
    for (const type of ['error', 'stdout']) await client.openStream(new Map([['streamtype', [type]]]));
    const resize = await client.openStream(new Map([['streamtype', ['resize']]]));
    resize.write('{"Width":91,"Height":31}\n');
    const streams = await accepted;
    assert.deepEqual(await heardLate((l) => streams.onResize(l), 200), [{ width: 91, height: 31 }]);
  } finally {
    client.close();
    server.close();
    pair.close();
  }
});

test('WebSocket: the size a client sends on channel 4 at once reaches a session that subscribes later (attach)', async () => {
  const pair = await socketPair();
  const server = new WsConnection(pair.server, 'server');
  const client = new WsConnection(pair.client, 'client');
  try {
    const streams = wsCommandStreams(server, 'v5.channel.k8s.io', { stdin: false, stdout: true, stderr: false, tty: true }, ['sh']);
    client.send(Buffer.concat([Buffer.of(4), Buffer.from('{"Width":92,"Height":32}')]));
    assert.deepEqual(await heardLate((l) => streams.onResize(l), 200), [{ width: 92, height: 32 }]);
  } finally {
    client.close();
    server.close();
    pair.close();
  }
});
