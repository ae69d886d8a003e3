import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestDaemon, makeTestDirs, removeTestDirs, type TestDirs } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { buildImage, makeLayer, pushImage } from '../helpers/oci-image.js';

/** 2,010 nested directories: a 4,020-character path, just inside PATH_MAX where it is unpacked. */
const DEEP = `${Array.from({ length: 2010 }, () => 'd').join('/')}/`;

function overlay(dirs: TestDirs, ...parts: string[]): string {
  return join(dirs.root, 'overlay', ...parts);
}

function list(path: string): string[] {
  return existsSync(path) ? readdirSync(path) : [];
}

describe('deep directory trees never stop the daemon', () => {
  let registry: TestRegistry;
  let dirs: TestDirs;
  let daemon: TestDaemon | undefined;
  let image: string;
  const mounted: string[] = [];

  before(async () => {
    registry = await TestRegistry.start();
    await pushImage(registry.host, 'test/deep-tree', 'v1', buildImage([await makeLayer([{ path: DEEP, type: 'directory' }])]));
    image = `${registry.host}/test/deep-tree:v1`;
    dirs = makeTestDirs();
  });

  after(async () => {
    await daemon?.stop();
    for (const m of mounted) spawnSync('umount', ['-l', m]);
    if (dirs) removeTestDirs(dirs);
    await registry?.stop();
  });

  it('pulls a layer of 2,010 nested directories, removes it with the image, and starts again', async () => {
    daemon = await TestDaemon.start({ dirs });
    await daemon.client.image('PullImage', { image: { image } });
    assert.equal(list(overlay(dirs, 'layers')).length, 1);
    await daemon.client.image('RemoveImage', { image: { image } });
    assert.deepEqual(list(overlay(dirs, 'layers')), [], 'the layer is gone');
    assert.deepEqual(list(overlay(dirs, 'tmp')), [], 'nothing is left in tmp/');
    assert.deepEqual(list(overlay(dirs, 'leftovers')), [], 'nothing needed moving aside');
    await daemon.stop();
    daemon = await TestDaemon.start({ dirs });
    await daemon.client.image('PullImage', { image: { image } });
    assert.equal(list(overlay(dirs, 'layers')).length, 1);
  });

  it('starts over what a killed unpack left, moving aside what it cannot delete', async () => {
    await daemon!.stop();
    // A whole deep layer where an interrupted unpack leaves its work, and a tree holding a
    // mount, which removal never crosses.
    const [layer] = list(overlay(dirs, 'layers'));
    renameSync(overlay(dirs, 'layers', layer!), overlay(dirs, 'tmp', 'layer-killed'));
    const stuck = overlay(dirs, 'tmp', 'layer-stuck', 'diff', 'mnt');
    mkdirSync(stuck, { recursive: true });
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'rct-stuck', stuck]).status, 0);
    mounted.push(stuck);
    writeFileSync(join(stuck, 'file'), 'x');

    daemon = await TestDaemon.start({ dirs });
    assert.deepEqual(list(overlay(dirs, 'tmp')), [], 'tmp/ starts empty');
    const aside = list(overlay(dirs, 'leftovers'));
    assert.equal(aside.length, 1, 'the tree with a mount was moved aside');
    assert.match(daemon.stderr, /leftover directory moved aside/);
    await daemon.client.image('PullImage', { image: { image } });

    await daemon.stop();
    spawnSync('umount', [join(overlay(dirs, 'leftovers', aside[0]!), 'layer-stuck', 'diff', 'mnt')]);
    mounted.length = 0;
    daemon = await TestDaemon.start({ dirs });
    assert.deepEqual(list(overlay(dirs, 'leftovers')), [], 'the next start deletes what was moved aside');
  });
});

describe('a container\'s own trees deeper than PATH_MAX', () => {
  let fx: ContainerFixture;
  before(async () => {
    fx = await ContainerFixture.start({ volumed: { Volumes: { '/data': {} } } });
  });
  after(async () => {
    await fx?.destroy();
  });

  it('are removed with the container: its upper dir and its image volume', async () => {
    // Each step names at most ~2,000 characters; each tree ends ~6,000 deep.
    const deepTree = (dir: string): string[] => [
      `cd ${dir}`, 's=a', 'i=1', 'while [ $i -lt 1000 ]; do s=$s/a; i=$((i+1)); done',
      'busybox mkdir -p x/$s y/$s z/$s', 'busybox mv x y/$s/', 'busybox mv y z/$s/',
    ];
    const script = [...deepTree('/tmp'), ...deepTree('/data'), 'echo built'].join('\n');
    const pod = await fx.runPod();
    const id = await fx.run(pod, 'volumed', { metadata: { name: 'deep-upper' }, command: ['sh', '-c', script] });
    const status = await fx.waitExited(id, 60_000);
    assert.equal(status.exit_code, 0, fx.logText(pod, 'deep-upper'));
    assert.match(fx.logText(pod, 'deep-upper'), /built/);
    const rootfsDir = overlay(fx.dirs, 'containers', id);
    const containerDir = join(fx.dirs.root, 'containers', id);
    assert.ok(existsSync(join(rootfsDir, 'upper', 'tmp', 'z')));
    assert.equal(list(join(containerDir, 'volumes')).length, 1);
    await fx.client.runtime('RemoveContainer', { container_id: id });
    assert.ok(!existsSync(rootfsDir), 'the container\'s overlay dirs are gone');
    assert.ok(!existsSync(containerDir), 'the container\'s directory and its volume are gone');
    assert.deepEqual(list(overlay(fx.dirs, 'leftovers')), []);
    await fx.removePod(pod.id);
  });
});
