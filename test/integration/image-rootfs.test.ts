import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestDaemon, makeTestDirs, removeTestDirs, type TestDirs } from '../helpers/daemon.js';
import { mountsBelow } from '../helpers/system.js';
import { TestRegistry } from '../helpers/registry.js';
import { buildImage, makeLayer, pushImage, type BuiltImage, type LayerBlob } from '../helpers/oci-image.js';
import { Storage } from '../../lib/storage/index.js';

const LAYERS = 128;

describe('container root filesystems over pulled layers', () => {
  let registry: TestRegistry;
  let dirs: TestDirs;
  let image: BuiltImage;
  let chain: string[];
  let storage: Storage;

  before(async () => {
    registry = await TestRegistry.start();
    const layers: LayerBlob[] = [
      await makeLayer([{ path: 'etc/', type: 'directory' }, { path: 'etc/removed', content: 'x' }, { path: 'opaque/', type: 'directory' }, { path: 'opaque/hidden', content: 'lower' }]),
      await makeLayer([{ path: '.wh.etc' }, { path: 'etc/', type: 'directory' }, { path: 'etc/.wh.removed' }, { path: 'opaque/', type: 'directory' }, { path: 'opaque/.wh..wh..opq' }, { path: 'opaque/visible', content: 'upper' }]),
    ];
    for (let i = layers.length; i < LAYERS; i++) layers.push(await makeLayer([{ path: `layers/${i}`, content: String(i) }], i % 2 ? 'gzip' : 'none'));
    image = buildImage(layers);
    await pushImage(registry.host, 'test/deep', 'v1', image);
    dirs = makeTestDirs();
    const daemon = await TestDaemon.start({ dirs });
    try {
      await daemon.client.image('PullImage', { image: { image: `${registry.host}/test/deep:v1` } });
      const status = await daemon.client.image('ImageStatus', { image: { image: `${registry.host}/test/deep:v1` }, verbose: true });
      chain = (JSON.parse(status.info.info!) as { chainIDs: string[] }).chainIDs;
    } finally {
      await daemon.stop();
    }
    storage = new Storage(dirs.root);
    await storage.init();
  });

  after(async () => {
    if (dirs) removeTestDirs(dirs);
    await registry?.stop();
  });

  it('mounts an image of 128 layers as one overlay, whiteouts and opaque dirs applied', async () => {
    assert.equal(chain.length, LAYERS);
    const { rootfs, upperDir } = await storage.createContainerRootfs({ containerId: 'deep1', layers: chain });
    try {
      assert.ok(storage.isMounted('deep1'));
      assert.equal(readdirSync(join(rootfs, 'layers')).length, LAYERS - 2);
      assert.equal(readFileSync(join(rootfs, 'layers', '127'), 'utf8'), '127');
      assert.ok(!existsSync(join(rootfs, 'etc', 'removed')), 'whiteout hides the lower file');
      assert.deepEqual(readdirSync(join(rootfs, 'opaque')), ['visible'], 'opaque dir hides the lower entries');
      writeFileSync(join(rootfs, 'written'), 'by the container');
      assert.equal(readFileSync(join(upperDir, 'written'), 'utf8'), 'by the container');
    } finally {
      await storage.removeContainerRootfs('deep1');
    }
    assert.ok(!storage.isMounted('deep1'));
    assert.deepEqual(mountsBelow(join(dirs.root, 'overlay')), []);
    assert.ok(!existsSync(join(dirs.root, 'overlay', 'containers', 'deep1')));
    await storage.removeContainerRootfs('deep1');
  });

  it('mounts at a requested mount point and mounts again after the mount is gone', async () => {
    const mountPoint = join(dirs.base, 'mnt-deep2');
    const { rootfs } = await storage.createContainerRootfs({ containerId: 'deep2', layers: chain.slice(0, 3), mountPoint });
    try {
      assert.equal(rootfs, mountPoint);
      writeFileSync(join(rootfs, 'kept'), 'across remount');
      await storage.removeContainerRootfs('nonexistent');
      // What a reboot does to the mount, not to the directories.
      spawnSync('umount', [mountPoint]);
      assert.ok(!storage.isMounted('deep2'));
      await storage.remountAfterReboot('deep2');
      assert.ok(storage.isMounted('deep2'));
      assert.equal(readFileSync(join(rootfs, 'kept'), 'utf8'), 'across remount');
    } finally {
      await storage.removeContainerRootfs('deep2');
    }
    assert.ok(!existsSync(mountPoint));
  });

  it('keeps layers a container root filesystem uses when the image is removed', async () => {
    const daemon = await TestDaemon.start({ dirs });
    // Made after the daemon started: at start it removes root filesystems no record names.
    await storage.createContainerRootfs({ containerId: 'keeper', layers: chain.slice(0, 2) });
    try {
      await daemon.client.image('RemoveImage', { image: { image: `${registry.host}/test/deep:v1` } });
      const left = readdirSync(join(dirs.root, 'overlay', 'layers')).sort();
      assert.deepEqual(left, chain.slice(0, 2).map((c) => c.slice(7)).sort());
    } finally {
      await daemon.stop();
      await storage.removeContainerRootfs('keeper');
    }
  });
});
