import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { expectCode } from '../helpers/cri-client.js';
import { spdyConnect, spdyForward, wsConnect } from '../helpers/streaming-client.js';
import { SpdySession } from '../../lib/streaming/spdy/index.js';
import { WsByteTunnel } from '../../lib/streaming/ws-spdy-tunnel.js';

let fx: ContainerFixture;
let pod: { id: string; config: import('../../lib/generated/runtime/v1/PodSandboxConfig.js').PodSandboxConfig };

before(async () => {
  fx = await ContainerFixture.start({ echo: { Cmd: ['nc', '-ll', '-p', '8080', '-e', 'cat'] } });
  pod = await fx.runPod();
  await fx.run(pod, 'echo');
  // nc needs a moment to bind after the container starts
  await new Promise((r) => setTimeout(r, 300));
});

after(async () => {
  await fx?.destroy();
});

async function forwardUrl(podId: string, port: number[] = []): Promise<string> {
  return (await fx.client.runtime('PortForward', { pod_sandbox_id: podId, port })).url!;
}

test('two concurrent port-forward requests on one SPDY connection each reach the pod port', async () => {
  const c = await spdyConnect(await forwardUrl(pod.id), ['portforward.k8s.io']);
  assert.ok('session' in c);
  assert.equal(c.protocol, 'portforward.k8s.io');
  const [a, b] = await Promise.all([
    spdyForward(c.session, 8080, '1', Buffer.from('first request\n')),
    spdyForward(c.session, 8080, '2', Buffer.from('second request\n')),
  ]);
  assert.equal(a.data.toString(), 'first request\n');
  assert.equal(b.data.toString(), 'second request\n');
  assert.equal(a.error, '');
  c.session.close();
});

test('a port nobody listens on is an error on that request only', async () => {
  const c = await spdyConnect(await forwardUrl(pod.id), ['portforward.k8s.io']);
  assert.ok('session' in c);
  const [bad, good] = await Promise.all([
    spdyForward(c.session, 9999, '1', Buffer.from('x')),
    spdyForward(c.session, 8080, '2', Buffer.from('still fine\n')),
  ]);
  assert.match(bad.error, /error forwarding port 9999 to pod .*refused/i);
  assert.equal(good.data.toString(), 'still fine\n');
  c.session.close();
});

test('port-forward over WebSocket: port prefix on both channels, data through channel 0', async () => {
  const c = await wsConnect(`${await forwardUrl(pod.id)}?ports=8080`, ['v4.channel.k8s.io']);
  assert.ok('conn' in c);
  const channels: Buffer[][] = [[], []];
  c.conn.on('message', (m: Buffer) => channels[m[0]!]?.push(m.subarray(1)));
  c.conn.send(Buffer.concat([Buffer.of(0), Buffer.from('over websocket\n')]));
  const data = () => Buffer.concat(channels[0]!);
  const deadline = Date.now() + 5000;
  while (data().length < 2 + 15 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  c.conn.close();
  assert.equal(data().readUInt16LE(0), 8080);
  assert.equal(data().subarray(2).toString(), 'over websocket\n');
  assert.equal(Buffer.concat(channels[1]!).readUInt16LE(0), 8080);
});

test('port-forward as SPDY tunneled through a WebSocket (the websocket transport of kubectl and crictl 1.30+)', async () => {
  const c = await wsConnect(await forwardUrl(pod.id), ['SPDY/3.1+portforward.k8s.io']);
  assert.ok('conn' in c, 'the server accepts the tunneling subprotocol');
  assert.equal(c.protocol, 'SPDY/3.1+portforward.k8s.io');
  const session = new SpdySession(new WsByteTunnel(c.conn) as unknown as Socket, 'client');
  const big = randomBytes(1024 * 1024);
  const [small, large] = await Promise.all([
    spdyForward(session, 8080, '1', Buffer.from('through the tunnel\n')),
    spdyForward(session, 8080, '2', big),
  ]);
  assert.equal(small.data.toString(), 'through the tunnel\n');
  assert.equal(small.error, '');
  assert.ok(large.data.equals(big), `1 MiB came back intact (${large.data.length} bytes)`);
  session.close();
});

test('a host-network pod forwards to the node loopback', async () => {
  const server: Server = createServer((s) => s.end('hello from the host\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const hostPod = await fx.runPod({ linux: { security_context: { namespace_options: { network: 'NODE' } } } });
  try {
    const c = await spdyConnect(await forwardUrl(hostPod.id), ['portforward.k8s.io']);
    assert.ok('session' in c);
    const r = await spdyForward(c.session, port, '1', Buffer.alloc(0));
    assert.equal(r.data.toString(), 'hello from the host\n');
    c.session.close();
  } finally {
    server.close();
    await fx.removePod(hostPod.id);
  }
});

test('PortForward validates the pod: unknown → NOT_FOUND, stopped → FAILED_PRECONDITION', async () => {
  await expectCode(fx.client.runtime('PortForward', { pod_sandbox_id: 'e'.repeat(64) }), grpc.status.NOT_FOUND);
  const stopped = await fx.runPod();
  await fx.client.runtime('StopPodSandbox', { pod_sandbox_id: stopped.id });
  await expectCode(fx.client.runtime('PortForward', { pod_sandbox_id: stopped.id }), grpc.status.FAILED_PRECONDITION);
  await fx.client.runtime('RemovePodSandbox', { pod_sandbox_id: stopped.id });
});
