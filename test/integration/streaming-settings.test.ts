import test from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { TestDaemon } from '../helpers/daemon.js';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function streamingInfo(daemon: TestDaemon): Promise<{ address: string; started: boolean }> {
  const res = await daemon.client.runtime('Status', { verbose: true });
  return JSON.parse(res.info!.streaming!) as { address: string; started: boolean };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('a streaming port set by the operator is listened on soon after start, before any stream request', async () => {
  const port = await freePort();
  const daemon = await TestDaemon.start({ toml: `[streaming]\nport = ${port}\n` });
  try {
    const info = await until('the streaming server', async () => {
      const i = await streamingInfo(daemon);
      return i.started ? i : undefined;
    });
    assert.equal(info.address, `127.0.0.1:${port}`);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.destroy();
  } finally {
    await daemon.destroy();
  }
});

test('streaming TLS files that cannot be read are reported in the log at start, and CRI is still served', async () => {
  const daemon = await TestDaemon.start({ toml: '[streaming]\ntls_cert_file = "/nonexistent/cert.pem"\ntls_key_file = "/nonexistent/key.pem"\n' });
  try {
    const line = await until('the log line', async () => daemon.stderr.split('\n').find((l) => l.includes('starting the streaming server failed')));
    assert.match(line, /\/nonexistent\/cert\.pem/);
    assert.equal((await streamingInfo(daemon)).started, false);
    const v = await daemon.client.runtime('Version', {});
    assert.equal(v.runtime_name, 'runcri');
  } finally {
    await daemon.destroy();
  }
});

test('with the default settings the streaming server waits for the first stream request', async () => {
  const daemon = await TestDaemon.start();
  try {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(await streamingInfo(daemon), { address: '', started: false });
  } finally {
    await daemon.destroy();
  }
});
