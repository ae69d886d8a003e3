import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ContainerFixture } from '../helpers/container-fixture.js';

let fx: ContainerFixture;
let infraImage: string;

before(async () => {
  fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '100000'] } }, {
    unpulled: { pause: { Cmd: ['sleep', '31536000'] } },
    toml: (host) => `[runtime]\ninfra_image = "${host}/test/pause:v1"\n`,
  });
  infraImage = fx.image('pause');
});

after(async () => {
  await fx?.destroy();
});

/** The runtime's containers by ID (runc's own list). */
function runcContainers(): string[] {
  const out = spawnSync('/usr/sbin/runc', [`--root=${join(fx.dirs.state, 'runc')}`, 'list', '-q'], { encoding: 'utf8' });
  return out.stdout.split('\n').filter(Boolean);
}

test('a pid: POD pod runs infra_image\'s process as PID 1 of its PID namespace, pulling the image on first use', async () => {
  assert.equal((await fx.client.image('ImageStatus', { image: { image: infraImage } })).image, null, 'not pulled before');
  const pod = await fx.runPod({ linux: { security_context: { namespace_options: { pid: 'POD' } } } });
  assert.notEqual((await fx.client.image('ImageStatus', { image: { image: infraImage } })).image, null, 'pulled for the pod');
  const id = await fx.run(pod, 'plain', { metadata: { name: 'member' }, linux: { security_context: { namespace_options: { pid: 'POD' } } } });
  const pid1 = await fx.exec(id, ['cat', '/proc/1/cmdline']);
  assert.equal(pid1.stdout, 'sleep\u000031536000\u0000');
  // Not a CRI container: kubelet never sees it.
  const listed = (await fx.client.runtime('ListContainers', {})).containers ?? [];
  assert.deepEqual(listed.map((c) => c.id), [id]);
  assert.ok(runcContainers().includes(pod.id), 'the infra container runs under the pod\'s ID');

  await fx.removePod(pod.id);
  assert.ok(!runcContainers().includes(pod.id), 'the infra container went with the pod');
  assert.ok(!existsSync(join(fx.dirs.root, 'overlay', 'containers', pod.id)), 'its root filesystem went too');
  assert.ok(!existsSync(join(fx.dirs.root, 'containers', pod.id)));
  assert.deepEqual(readdirSync(join(fx.dirs.state, 'sockets')), []);
  assert.equal(spawnSync('pgrep', ['-f', `conmon.*-c ${pod.id}`]).status, 1, 'no monitor left');
});

test('a pod whose containers keep their own PID namespaces gets no infra process', async () => {
  const pod = await fx.runPod();
  assert.ok(!runcContainers().includes(pod.id));
  const id = await fx.run(pod, 'plain', { metadata: { name: 'alone' } });
  assert.equal((await fx.exec(id, ['cat', '/proc/1/cmdline'])).stdout, 'sleep\u0000100000\u0000');
  await fx.removePod(pod.id);
});
