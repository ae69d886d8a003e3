import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { silentLogger } from '../../lib/log/index.js';
import { StreamingServer, type Upgraded } from '../../lib/streaming/server.js';
import type { SpdySession } from '../../lib/streaming/spdy/index.js';
import { spdyConnect, wsConnect } from '../helpers/streaming-client.js';

async function startServer(opts: { maxConnections?: number; requestTimeoutMs?: number }) {
  const claims: string[] = [];
  const upgraded: Upgraded[] = [];
  const server = new StreamingServer<string>({
    address: '127.0.0.1',
    port: 0,
    idleTimeoutMs: 60_000,
    ...opts,
    claim: (_kind, token) => {
      claims.push(token);
      return token;
    },
    onUpgrade: (_claimed, u) => upgraded.push(u),
    log: silentLogger(),
  });
  await server.listen();
  return { server, claims, upgraded, url: (token: string) => `http://${server.address}/portforward/${token}` };
}

test('upgraded connections past the cap get 503 without their token being taken; a freed slot is usable again', { timeout: 20_000 }, async () => {
  const s = await startServer({ maxConnections: 3 });
  try {
    const open: SpdySession[] = [];
    for (const token of ['a', 'b']) {
      const c = await spdyConnect(s.url(token), ['portforward.k8s.io']);
      assert.ok('session' in c);
      open.push(c.session);
    }
    const ws = await wsConnect(`${s.url('c')}?ports=80`, ['v4.channel.k8s.io']);
    assert.ok('conn' in ws);
    assert.equal(s.server.connections, 3);
    const refused = await spdyConnect(s.url('d'), ['portforward.k8s.io']);
    assert.ok(!('session' in refused));
    assert.equal(refused.status, 503);
    assert.match(refused.body, /too many streaming connections are open \(the limit is 3\)/);
    assert.deepEqual(s.claims, ['a', 'b', 'c'], 'the refused token was not consumed');
    // The server ends its side; the slot is free once the socket has closed.
    const upgradedSession = s.upgraded[0]!;
    assert.equal(upgradedSession.transport, 'spdy');
    if (upgradedSession.transport === 'spdy') upgradedSession.session.close();
    await new Promise((r) => open[0]!.once('close', r));
    while (s.server.connections > 2) await new Promise((r) => setTimeout(r, 10));
    const again = await spdyConnect(s.url('d'), ['portforward.k8s.io']);
    assert.ok('session' in again);
    again.session.close();
    for (const o of open) o.close();
    ws.conn.close();
  } finally {
    await s.server.close();
  }
});

test('a connection that never sends its upgrade request is dropped after the request timeout', { timeout: 20_000 }, async () => {
  const s = await startServer({ requestTimeoutMs: 300 });
  try {
    const started = Date.now();
    const silent = connect(Number(s.server.address.split(':')[1]), '127.0.0.1');
    silent.on('error', () => undefined);
    // Reading, so that it sees the server's end.
    silent.resume();
    const partial = connect(Number(s.server.address.split(':')[1]), '127.0.0.1', () => partial.write('GET /exec/x HTTP/1.1\r\nHost: y\r\n'));
    partial.on('error', () => undefined);
    partial.resume();
    await Promise.all([new Promise((r) => silent.once('close', r)), new Promise((r) => partial.once('close', r))]);
    const took = Date.now() - started;
    assert.ok(took < 5000, `dropped after ${took} ms`);
    assert.deepEqual(s.claims, []);
  } finally {
    await s.server.close();
  }
});
