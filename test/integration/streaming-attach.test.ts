import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { spdyConnect } from '../helpers/streaming-client.js';
import type { SpdyStream } from '../../lib/streaming/spdy/index.js';

let fx: ContainerFixture;
let pod: { id: string; config: import('../../lib/generated/runtime/v1/PodSandboxConfig.js').PodSandboxConfig };

before(async () => {
  fx = await ContainerFixture.start({
    shell: { Cmd: ['sh'] },
    ticker: { Cmd: ['sh', '-c', 'while true; do echo tick; sleep 0.1; done'] },
  });
  pod = await fx.runPod();
});

after(async () => {
  await fx?.destroy();
});

async function attach(ctr: string, o: { stdin: boolean; tty: boolean }) {
  const url = (await fx.client.runtime('Attach', { container_id: ctr, stdin: o.stdin, stdout: true, stderr: !o.tty, tty: o.tty })).url!;
  const c = await spdyConnect(url, ['v4.channel.k8s.io']);
  assert.ok('session' in c);
  const open = (t: string) => c.session.openStream(new Map([['streamtype', [t]]]));
  const error = await open('error');
  const stdin = o.stdin ? await open('stdin') : undefined;
  const stdout = await open('stdout');
  if (!o.tty) await open('stderr');
  if (o.tty) await open('resize');
  let out = '';
  stdout.setEncoding('utf8');
  stdout.on('data', (d: string) => (out += d));
  let err = '';
  error.setEncoding('utf8');
  error.on('data', (d: string) => (err += d));
  const ended = new Promise<void>((r) => error.once('close', () => r()));
  return { session: c.session, stdin: stdin as SpdyStream | undefined, output: () => out, error: () => err, ended };
}

async function until(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

test('attach to a container started with stdin and a tty: input reaches its shell, output comes back', async () => {
  const ctr = await fx.run(pod, 'shell', { stdin: true, tty: true });
  const a = await attach(ctr, { stdin: true, tty: true });
  a.stdin!.write('echo hello-$((6*7))\n');
  await until(() => a.output().includes('hello-42'));
  assert.match(a.output(), /hello-42/);
  a.stdin!.write('exit\n');
  await a.ended;
  assert.equal(JSON.parse(a.error()).status, 'Success');
  await fx.waitExited(ctr);
});

test('several attach clients at once each see the output', async () => {
  const ctr = await fx.run(pod, 'ticker');
  const a = await attach(ctr, { stdin: false, tty: false });
  const b = await attach(ctr, { stdin: false, tty: false });
  await until(() => a.output().includes('tick') && b.output().includes('tick'));
  assert.match(a.output(), /tick/);
  assert.match(b.output(), /tick/);
  a.session.close();
  b.session.close();
  await fx.client.runtime('StopContainer', { container_id: ctr, timeout: 1 });
});
