import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, DAEMON_MAIN, makeTestDirs, removeTestDirs } from '../helpers/daemon.js';
import { rawGrpcCall } from '../helpers/grpc-raw.js';
import { loadCriProto } from '../../lib/server/proto.js';
import { packageVersion } from '../../lib/daemon/version.js';
import { imageServiceHandlers, imageServiceStreams, runtimeServiceHandlers, runtimeServiceStreams } from '../../lib/server/handlers/index.js';

let daemon: TestDaemon;

before(async () => {
  daemon = await TestDaemon.start();
});

after(async () => {
  await daemon.destroy();
});


test('Version names runcri, its package version and CRI v1', async () => {
  const v = await daemon.client.runtime('Version', { version: '0.1.0' });
  assert.equal(v.runtime_name, 'runcri');
  assert.equal(v.runtime_version, packageVersion());
  assert.match(v.runtime_version, /^\d+\.\d+\.\d+/);
  assert.equal(v.runtime_api_version, 'v1');
});

test('the socket is a root-only socket (0660)', () => {
  const st = statSync(daemon.dirs.socket);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.uid, 0);
});

test('Status says the runtime is ready and the network is not while no CNI config exists', async () => {
  const res = await daemon.client.runtime('Status', { verbose: false });
  const conditions = Object.fromEntries(res.status!.conditions.map((c) => [c.type, c]));
  assert.equal(conditions.RuntimeReady?.status, true);
  assert.equal(conditions.NetworkReady?.status, false);
  assert.equal(conditions.NetworkReady?.reason, 'NetworkPluginNotReady');
  assert.match(conditions.NetworkReady!.message, /no CNI configuration/);
  assert.deepEqual(res.info, {}, 'no verbose info unless asked');
});

test('NetworkReady turns true once a CNI config appears in the conf dir', async () => {
  writeFileSync(`${daemon.dirs.cniConf}/50-test.conflist`, JSON.stringify({
    cniVersion: '1.0.0', name: 'rct-status', plugins: [{ type: 'loopback' }],
  }));
  const deadline = Date.now() + 5000;
  let ready = false;
  while (!ready && Date.now() < deadline) {
    const res = await daemon.client.runtime('Status', {});
    ready = res.status!.conditions.find((c) => c.type === 'NetworkReady')!.status;
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(ready, 'NetworkReady became true');
});

test('Status with verbose carries the effective config as JSON', async () => {
  const res = await daemon.client.runtime('Status', { verbose: true });
  const config = JSON.parse(res.info.config!) as { root: string; socket: string; max_message_bytes: number };
  assert.equal(config.root, daemon.dirs.root);
  assert.equal(config.socket, daemon.dirs.socket);
  assert.equal(config.max_message_bytes, 16 * 1024 * 1024);
});

test('RuntimeConfig reports the cgroup driver', async () => {
  const res = await daemon.client.runtime('RuntimeConfig', {});
  assert.equal(res.linux?.cgroup_driver, 'CGROUPFS');
});

test('every RPC without a handler answers UNIMPLEMENTED naming the RPC', async () => {
  const proto = loadCriProto().runtime.v1;
  const services: [grpc.ServiceDefinition, grpc.Client, Record<string, unknown>][] = [
    [proto.RuntimeService.service, daemon.client.runtimeClient, { ...runtimeServiceHandlers, ...runtimeServiceStreams }],
    [proto.ImageService.service, daemon.client.imageClient, { ...imageServiceHandlers, ...imageServiceStreams }],
  ];
  for (const [definition, client, handlers] of services) {
    for (const [name, method] of Object.entries(definition)) {
      if (handlers[name]) continue;
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        const serialize = method.requestSerialize as (v: object) => Buffer;
        const deserialize = method.responseDeserialize as (b: Buffer) => unknown;
        if (method.responseStream) {
          const call = client.makeServerStreamRequest(method.path, serialize, deserialize, {});
          call.on('data', () => reject(new Error(`${name} streamed data`)));
          call.on('error', resolve);
        } else {
          client.makeUnaryRequest(method.path, serialize, deserialize, {}, (e) => (e ? resolve(e) : reject(new Error(`${name} succeeded`))));
        }
      });
      assert.equal(err.code, grpc.status.UNIMPLEMENTED, `${name}: ${err.message}`);
      assert.match(err.details, new RegExp(`\\b${name}\\b`));
    }
  }
});

test('clients that send the socket path, an escaped path or an empty :authority are served', async () => {
  for (const authority of [daemon.dirs.socket, encodeURIComponent(daemon.dirs.socket), '', 'localhost']) {
    const res = await rawGrpcCall(daemon.dirs.socket, '/runtime.v1.RuntimeService/Version', Buffer.alloc(0), { ':authority': authority });
    assert.equal(res.grpcStatus, '0', `:authority ${JSON.stringify(authority)} → grpc-status ${res.grpcStatus} ${res.grpcMessage ?? ''}`);
    const response = loadCriProto().runtime.v1.RuntimeService.service.Version!.responseDeserialize(res.body.subarray(5)) as { runtime_name: string };
    assert.equal(response.runtime_name, 'runcri');
  }
});

test('a malformed protobuf gets a gRPC error and the daemon keeps serving', async () => {
  const res = await rawGrpcCall(daemon.dirs.socket, '/runtime.v1.RuntimeService/Status', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]));
  assert.notEqual(res.grpcStatus, '0');
  assert.notEqual(res.grpcStatus, undefined);
  await daemon.client.runtime('Version', {});
});

test('a message over the 16 MiB limit is refused with RESOURCE_EXHAUSTED', async () => {
  // Field 15 is unknown to StatusRequest, so the encoder of a typed client would drop it;
  // the oversized request is serialized by hand: tag, varint length, bytes.
  const filler = Buffer.alloc(17 * 1024 * 1024, 0x78);
  const len: number[] = [];
  for (let n = filler.length; ; n >>>= 7) {
    if (n < 0x80) { len.push(n); break; }
    len.push((n & 0x7f) | 0x80);
  }
  const payload = Buffer.concat([Buffer.from([(15 << 3) | 2, ...len]), filler]);
  const client = daemon.client.runtimeClient;
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    client.makeUnaryRequest('/runtime.v1.RuntimeService/Status', () => payload, (b: Buffer) => b, {}, { deadline: Date.now() + 30_000 }, (e) => resolve(e));
  });
  assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED, err?.message);
  await daemon.client.runtime('Version', {});
});

test('garbage bytes on the socket do not disturb the daemon', async () => {
  await new Promise<void>((resolve) => {
    const sock = net.connect(daemon.dirs.socket, () => {
      sock.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02garbage\xff\xfe'));
      setTimeout(() => { sock.destroy(); resolve(); }, 200);
    });
    sock.on('error', () => resolve());
  });
  await new Promise<void>((resolve) => {
    const sock = net.connect(daemon.dirs.socket, () => {
      sock.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x01\x00\x00\x00\x00\x01\xff\xff\xff\xff\xff'));
      setTimeout(() => { sock.destroy(); resolve(); }, 200);
    });
    sock.on('error', () => resolve());
  });
  const v = await daemon.client.runtime('Version', {});
  assert.equal(v.runtime_name, 'runcri');
  assert.equal(daemon.process.exitCode, null);
});

test('a second daemon on the same root refuses to start and says why', async () => {
  const dirs = daemon.dirs;
  const child = spawn(process.execPath, [DAEMON_MAIN, 'serve', '--root', dirs.root, '--state-dir', dirs.state, '--socket', `${dirs.base}/other.sock`, '--cni-conf-dir', dirs.cniConf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(stderr, new RegExp(`another runcri \\(pid ${daemon.pid}\\) is using root`));
  await daemon.client.runtime('Version', {});
});

test('a daemon killed with SIGKILL leaves a stale socket that the next one replaces', async () => {
  const dirs = makeTestDirs();
  try {
    const first = await TestDaemon.start({ dirs });
    await first.kill();
    assert.ok(existsSync(dirs.socket), 'the killed daemon left its socket file');
    const second = await TestDaemon.start({ dirs });
    const v = await second.client.runtime('Version', {});
    assert.equal(v.runtime_name, 'runcri');
    assert.equal(await second.stop(), 0, 'SIGTERM ends the daemon cleanly');
    assert.ok(!existsSync(dirs.socket), 'a clean stop removes the socket');
  } finally {
    removeTestDirs(dirs);
  }
});

test('a bad config file stops the daemon at start naming the key', async () => {
  const dirs = makeTestDirs();
  try {
    writeFileSync(dirs.configFile, '[network]\nconf_dri = "/etc/cni/net.d"\n');
    const child = spawn(process.execPath, [DAEMON_MAIN, 'serve', '--config', dirs.configFile, '--root', dirs.root, '--socket', dirs.socket], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /network\.conf_dri: unknown setting/);
  } finally {
    removeTestDirs(dirs);
  }
});
