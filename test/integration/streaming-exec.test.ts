import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { expectCode } from '../helpers/cri-client.js';
import { spdyCommand, spdyConnect, wsCommand, upgradeRequest } from '../helpers/streaming-client.js';

let fx: ContainerFixture;
let pod: { id: string; config: import('../../lib/generated/runtime/v1/PodSandboxConfig.js').PodSandboxConfig };
let ctr: string;

before(async () => {
  fx = await ContainerFixture.start({ sleeper: { Cmd: ['sleep', '3600'], Env: ['FROM_IMAGE=yes'], WorkingDir: '/srv' } });
  pod = await fx.runPod();
  ctr = await fx.run(pod, 'sleeper');
});

after(async () => {
  await fx?.destroy();
});

async function execUrl(cmd: string[], o: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean } = {}): Promise<string> {
  const res = await fx.client.runtime('Exec', { container_id: ctr, cmd, stdin: o.stdin ?? false, stdout: o.stdout ?? true, stderr: o.stderr ?? false, tty: o.tty ?? false });
  return res.url!;
}

function status(error: string): { status: string; reason?: string; details?: { causes: { reason: string; message: string }[] } } {
  return JSON.parse(error);
}

test('the streaming server starts with the first Exec, and Status verbose info then carries the address its URLs use', async () => {
  const unstarted = JSON.parse((await fx.client.runtime('Status', { verbose: true })).info!.streaming!) as { address: string; started: boolean };
  assert.deepEqual(unstarted, { address: '', started: false });
  const url = await execUrl(['true']);
  const { address, started } = JSON.parse((await fx.client.runtime('Status', { verbose: true })).info!.streaming!) as { address: string; started: boolean };
  assert.equal(started, true);
  assert.match(address, /^127\.0\.0\.1:\d+$/);
  assert.match(url, new RegExp(`^http://${address.replace(/\./g, '\\.')}/exec/[A-Za-z0-9_-]+$`));
});

test('exec without a tty streams stdout and stderr separately and reports success (SPDY v4)', async () => {
  const r = await spdyCommand(await execUrl(['sh', '-c', 'echo out; echo err >&2; pwd; echo $FROM_IMAGE'], { stderr: true }), { stderr: true });
  assert.equal(r.stdout.toString(), 'out\n/srv\nyes\n');
  assert.equal(r.stderr.toString(), 'err\n');
  assert.equal(status(r.error).status, 'Success');
});

test('a non-zero exit is a NonZeroExitCode status with the exit code as its cause', async () => {
  const r = await spdyCommand(await execUrl(['sh', '-c', 'exit 7']), {});
  const s = status(r.error);
  assert.equal(s.status, 'Failure');
  assert.equal(s.reason, 'NonZeroExitCode');
  assert.deepEqual(s.details!.causes, [{ reason: 'ExitCode', message: '7' }]);
});

test('a missing binary exits 127 and the stream ends', async () => {
  const r = await spdyCommand(await execUrl(['/no/such/binary'], { stderr: true }), { stderr: true });
  assert.deepEqual(status(r.error).details!.causes, [{ reason: 'ExitCode', message: '127' }]);
});

test('older protocols get plain text on the error stream (v3, v2, channel.k8s.io)', async () => {
  for (const protocol of ['v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']) {
    const ok = await spdyCommand(await execUrl(['echo', 'hi']), { protocol });
    assert.equal(ok.stdout.toString(), 'hi\n');
    assert.equal(ok.error, '');
    const bad = await spdyCommand(await execUrl(['false']), { protocol });
    assert.match(bad.error, /non-zero exit code.*exit code 1/);
  }
});

test('stdin is piped through to the process (cat)', async () => {
  const r = await spdyCommand(await execUrl(['cat'], { stdin: true }), { stdin: Buffer.from('hello through stdin\n') });
  assert.equal(r.stdout.toString(), 'hello through stdin\n');
  assert.equal(status(r.error).status, 'Success');
});

test('10 MiB each way through exec without a stall', async () => {
  const size = 10 * 1024 * 1024;
  const input = Buffer.alloc(size, 0);
  for (let i = 0; i < size; i += 4096) input.writeUInt32BE(i, i);
  async function* chunks() {
    for (let i = 0; i < size; i += 256 * 1024) yield input.subarray(i, i + 256 * 1024);
  }
  const up = await spdyCommand(await execUrl(['busybox', 'sha256sum'], { stdin: true }), { stdin: chunks() });
  assert.equal(up.stdout.toString().split(' ')[0], createHash('sha256').update(input).digest('hex'));
  const down = await spdyCommand(await execUrl(['head', '-c', String(size), '/dev/zero']), {});
  assert.equal(down.stdout.length, size);
  assert.ok(down.stdout.every((b) => b === 0));
  assert.equal(status(down.error).status, 'Success');
});

test('exec with a tty follows resize: stty size shows the new size', async () => {
  const url = await execUrl(['sh'], { stdin: true, tty: true });
  const r = await spdyCommand(url, {
    tty: true, stdin: 'open', resize: { Width: 123, Height: 45 },
    onOpen: (streams) => {
      const stdin = streams.get('stdin')!;
      // give the resize a moment to land before asking
      setTimeout(() => stdin.write('busybox stty size; exit 3\n'), 500);
    },
  });
  assert.match(r.stdout.toString(), /45 123/);
  assert.deepEqual(status(r.error).details!.causes, [{ reason: 'ExitCode', message: '3' }]);
});

test('exec over WebSocket v5: channels, stdin close and the Status on channel 3', async () => {
  const r = await wsCommand(await execUrl(['sh', '-c', 'cat; echo e >&2; exit 2'], { stdin: true, stderr: true }), { stdin: Buffer.from('via ws\n') });
  assert.equal(r.stdout.toString(), 'via ws\n');
  assert.equal(r.stderr.toString(), 'e\n');
  assert.deepEqual(status(r.error).details!.causes, [{ reason: 'ExitCode', message: '2' }]);
});

test('a used, unknown or expired token is refused with 404 and nothing runs', async () => {
  const url = await execUrl(['true']);
  const first = await spdyCommand(url, {});
  assert.equal(status(first.error).status, 'Success');
  const again = await spdyConnect(url, ['v4.channel.k8s.io']);
  assert.ok(!('session' in again) && again.status === 404);
  const unknown = await upgradeRequest(url.replace(/[^/]+$/, 'AAAAAAAAAAAAAAAAAAAAAAAA'), { Connection: 'Upgrade', Upgrade: 'SPDY/3.1' });
  assert.equal(unknown.status, 404);
  const wrongKind = await upgradeRequest((await execUrl(['true'])).replace('/exec/', '/attach/'), { Connection: 'Upgrade', Upgrade: 'SPDY/3.1' });
  assert.equal(wrongKind.status, 404);
});

test('Exec validates its request: unknown container, no streams, tty with stderr', async () => {
  await expectCode(fx.client.runtime('Exec', { container_id: 'f'.repeat(64), cmd: ['true'], stdout: true }), grpc.status.NOT_FOUND);
  await expectCode(fx.client.runtime('Exec', { container_id: ctr, cmd: ['true'] }), grpc.status.INVALID_ARGUMENT);
  await expectCode(fx.client.runtime('Exec', { container_id: ctr, cmd: ['true'], tty: true, stdout: true, stderr: true }), grpc.status.INVALID_ARGUMENT);
  await expectCode(fx.client.runtime('Exec', { container_id: ctr, cmd: [], stdout: true }), grpc.status.INVALID_ARGUMENT);
});

test('a client that disconnects mid-exec leaves no process in the container', async () => {
  const url = await execUrl(['sh', '-c', 'echo started; exec sleep 1234'], { stdin: true });
  const c = await spdyConnect(url, ['v4.channel.k8s.io']);
  assert.ok('session' in c);
  const open = (t: string) => c.session.openStream(new Map([['streamtype', [t]]]));
  await open('error');
  await open('stdin');
  const stdout = await open('stdout');
  await new Promise((r) => stdout.once('data', r));
  const until = async (ok: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  };
  await until(() => listSleepers().length === 1);
  assert.equal(listSleepers().length, 1);
  c.session.socket.destroy();
  await until(() => listSleepers().length === 0);
  assert.deepEqual(listSleepers(), []);
});

test('a stopped container refuses Exec with FAILED_PRECONDITION', async () => {
  const other = await fx.run(pod, 'sleeper');
  await fx.client.runtime('StopContainer', { container_id: other, timeout: 1 });
  await expectCode(fx.client.runtime('Exec', { container_id: other, cmd: ['true'], stdout: true }), grpc.status.FAILED_PRECONDITION);
});

/** PIDs on the host running `sleep 1234` (the marker process of the disconnect test). */
function listSleepers(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // busybox may run the applet inside the shell, so the marker can sit in sh's own arguments
      if (/sleep[\u0000 ]1234/.test(readFileSync(`/proc/${name}/cmdline`, 'utf8'))) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

