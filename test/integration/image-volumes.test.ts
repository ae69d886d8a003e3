import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { expectCode } from '../helpers/cri-client.js';
import { TestDaemon } from '../helpers/daemon.js';
import { ensureIdmapHelper } from '../helpers/native.js';
import { buildImage, makeLayer, pushImage } from '../helpers/oci-image.js';
import type { Mount } from '../../lib/generated/runtime/v1/Mount.js';

let fx: ContainerFixture;
let dataImage: string;

/** An image of two layers holding only data (no binaries): the second adds a file and replaces one. */
before(async () => {
  fx = await ContainerFixture.start({ busybox: { Cmd: ['/bin/sh'] } });
  const first = await makeLayer([
    { path: 'data/', type: 'directory' },
    { path: 'data/hello', content: 'from the data image\n' },
    { path: 'data/replaced', content: 'first layer\n' },
    { path: 'data/sub/', type: 'directory' },
    { path: 'data/sub/deep', content: 'deep\n' },
    { path: 'link', type: 'symlink', linkname: '/etc' },
  ]);
  const second = await makeLayer([
    { path: 'data/', type: 'directory' },
    { path: 'data/second', content: 'second layer\n' },
    { path: 'data/replaced', content: 'second layer wins\n' },
  ]);
  await pushImage(fx.registry.host, 'test/data', 'v1', buildImage([first, second], { config: {} }));
  dataImage = `${fx.registry.host}/test/data:v1`;
  await fx.client.image('PullImage', { image: { image: dataImage } });
});

after(async () => {
  await fx?.destroy();
});

function imageMount(containerPath: string, image: string, subPath = ''): Mount {
  // As kubelet sends it: no host path, read-only.
  return { container_path: containerPath, host_path: '', readonly: true, image: { image }, image_sub_path: subPath };
}

/** Mount points of the node below the daemon's image volume directory. */
function volumeMounts(): string[] {
  const prefix = join(fx.dirs.state, 'image-volumes');
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(`${prefix}/`));
}

async function sh(id: string, script: string) {
  return fx.exec(id, ['/bin/sh', '-c', script]);
}

it('an image volume shows the image\'s files read-only at the container path, a sub path too, and removal leaves no mount', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sleep', '1000'], mounts: [imageMount('/vol', dataImage), imageMount('/deep', dataImage, 'data/sub')] });
  assert.equal((await sh(id, 'cat /vol/data/hello /vol/data/second /vol/data/replaced')).stdout, 'from the data image\nsecond layer\nsecond layer wins\n', 'both layers, the upper one winning');
  assert.equal((await sh(id, 'cat /deep/deep')).stdout, 'deep\n');
  const write = await sh(id, 'echo x > /vol/data/hello; touch /vol/new; mkdir /deep/dir');
  assert.notEqual(write.exitCode, 0);
  assert.equal(write.stderr.match(/Read-only file system/g)?.length, 3, `every write is EROFS: ${write.stderr}`);
  assert.equal((await sh(id, 'cat /vol/data/hello')).stdout, 'from the data image\n', 'unchanged');
  assert.equal((await sh(id, 'ls /vol/link/')).exitCode, 0, 'a symlink in the image resolves inside the container');
  const status = await fx.status(id);
  assert.deepEqual(status.mounts!.map((m) => [m.container_path, m.image?.image, m.readonly]), [['/vol', dataImage, true], ['/deep', dataImage, true]], 'the status keeps the mounts as requested');
  assert.equal(volumeMounts().length, 2, 'one overlay per volume on the node');
  await fx.client.runtime('RemoveContainer', { container_id: id });
  assert.deepEqual(volumeMounts(), [], 'no mount is left after removal');
  assert.equal(existsSync(join(fx.dirs.state, 'image-volumes', id)), false);
  await fx.removePod(pod.id);
});

it('an image used as a volume is in use in its verbose status; removing it leaves the running container\'s volume whole', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sleep', '1000'], mounts: [imageMount('/vol', dataImage)] });
  const verbose = await fx.client.image('ImageStatus', { image: { image: dataImage }, verbose: true });
  const info = JSON.parse(verbose.info!.info!) as { chainIDs: string[]; usedBy: { containers: string[]; imageVolumes: string[] } };
  const usedBy = info.usedBy;
  const layerDirs = info.chainIDs.map((c) => join(fx.dirs.root, 'overlay', 'layers', c.slice('sha256:'.length)));
  assert.equal(layerDirs.length, 2);
  assert.deepEqual(usedBy, { containers: [], imageVolumes: [id] });
  const busybox = await fx.client.image('ImageStatus', { image: { image: fx.image('busybox') }, verbose: true });
  assert.ok((JSON.parse(busybox.info!.info!) as { usedBy: { containers: string[] } }).usedBy.containers.includes(id), 'the root filesystem\'s image names it too');

  await fx.client.image('RemoveImage', { image: { image: dataImage } });
  assert.equal((await fx.client.image('ImageStatus', { image: { image: dataImage } })).image, null, 'the image is gone from the store');
  assert.equal((await fx.client.image('ListImages', {})).images!.some((i) => i.repo_tags!.includes(dataImage)), false);
  for (const dir of layerDirs) assert.ok(existsSync(dir), `${dir} is kept while the container uses it`);
  assert.equal((await sh(id, 'cat /vol/data/second')).stdout, 'second layer\n');
  // A new container cannot mount what is no longer on the node.
  const err = await expectCode(fx.create(pod, 'busybox', { command: ['/bin/true'], mounts: [imageMount('/vol', dataImage)] }), grpc.status.NOT_FOUND);
  assert.match(err.details, /does not exist on the node/);

  await fx.client.runtime('RemoveContainer', { container_id: id });
  assert.deepEqual(volumeMounts(), []);
  for (const dir of layerDirs) assert.equal(existsSync(dir), false, `${dir} is collected once no container uses it`);
  await fx.client.image('PullImage', { image: { image: dataImage } });
  await fx.removePod(pod.id);
});

it('an image volume of an image not on the node is NOT_FOUND and leaves nothing; a host path beside the image is INVALID_ARGUMENT', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod();
  const absent = `${fx.registry.host}/test/never-pulled:v1`;
  const err = await expectCode(fx.create(pod, 'busybox', { metadata: { name: 'vol' }, command: ['/bin/true'], mounts: [imageMount('/vol', absent)] }), grpc.status.NOT_FOUND);
  assert.match(err.details, /image "[^"]*never-pulled:v1" does not exist on the node/);
  const bad = await expectCode(fx.create(pod, 'busybox', { metadata: { name: 'vol' }, command: ['/bin/true'], mounts: [{ ...imageMount('/vol', dataImage), host_path: '/etc' }] }), grpc.status.INVALID_ARGUMENT);
  assert.match(bad.details, /an image volume has no host_path/);
  const missing = await expectCode(fx.create(pod, 'busybox', { metadata: { name: 'vol' }, command: ['/bin/true'], mounts: [imageMount('/vol', dataImage, 'nothing/here')] }), grpc.status.NOT_FOUND);
  assert.match(missing.details, /sub path "nothing\/here" does not exist in image volume/);
  const escape = await expectCode(fx.create(pod, 'busybox', { metadata: { name: 'vol' }, command: ['/bin/true'], mounts: [imageMount('/vol', dataImage, 'link')] }), grpc.status.INVALID_ARGUMENT);
  assert.match(escape.details, /goes through a symbolic link/, 'a sub path never follows a link out of the image');
  assert.equal((await fx.client.runtime('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers!.length, 0);
  assert.deepEqual(volumeMounts(), [], 'the failed creates unmounted what they had mounted');
  // The name is free for a create that is right.
  const id = await fx.run(pod, 'busybox', { metadata: { name: 'vol' }, command: ['/bin/sleep', '1000'], mounts: [imageMount('/vol', dataImage)] });
  assert.equal((await sh(id, 'cat /vol/data/hello')).stdout, 'from the data image\n');
  await fx.removePod(pod.id);
  assert.deepEqual(volumeMounts(), [], 'removing the pod removed its containers\' volumes');
});

it('an image volume outlives a daemon restart, and is unmounted when its container is removed after it', { timeout: 90_000 }, async () => {
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sleep', '1000'], mounts: [imageMount('/vol', dataImage)] });
  await fx.daemon.kill();
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs });
  assert.equal((await sh(id, 'cat /vol/data/hello')).stdout, 'from the data image\n');
  assert.equal(volumeMounts().length, 1);
  await fx.client.runtime('StopContainer', { container_id: id, timeout: 0 });
  await fx.client.runtime('RemoveContainer', { container_id: id });
  assert.deepEqual(volumeMounts(), []);
  await fx.removePod(pod.id);
});

it('a container of a user-namespaced pod reads its image volume too', { timeout: 90_000 }, async (t) => {
  ensureIdmapHelper();
  // The pod's root is an unprivileged ID on the node: it must be able to walk to the daemon's state.
  chmodSync(fx.dirs.base, 0o711);
  await fx.daemon.stop();
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs });
  const status = await fx.client.runtime('Status', {});
  if (!(status.runtime_handlers ?? []).some((h) => h.name === '' && h.features?.user_namespaces)) {
    t.skip('the runtime cannot make user-namespaced pods here');
    return;
  }
  const map = { container_id: 0, host_id: 100000, length: 65536 };
  const userns = { namespace_options: { userns_options: { mode: 'POD' as const, uids: [map], gids: [map] } } };
  const pod = await fx.runPod({ linux: { security_context: userns } });
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sleep', '1000'], mounts: [imageMount('/vol', dataImage)], linux: { security_context: userns } });
  assert.equal((await sh(id, 'cat /vol/data/hello')).stdout, 'from the data image\n');
  assert.match((await sh(id, 'touch /vol/x')).stderr, /Read-only file system/);
  await fx.removePod(pod.id);
  assert.deepEqual(volumeMounts(), []);
});
