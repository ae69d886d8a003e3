import { join } from 'node:path';
import { LayerStore } from './layer-store.js';
import { ContainerRootfsManager, type Rootfs, type RootfsRequest } from './rootfs.js';

export { LayerStore, type LayerMeta } from './layer-store.js';
export { unpackLayer, cleanEntryPath, UnsafeLayerEntryError, type UnpackStats } from './unpack.js';
export { compressionOf, decompressor, type Compression } from './decompress.js';
export { mountedPaths, type Rootfs, type RootfsRequest } from './rootfs.js';

/**
 * The layer store and the container root filesystems built from it, under `<root>/overlay`.
 * The image service fills the layers; the container service mounts root filesystems.
 */
export class Storage {
  readonly layers: LayerStore;
  private readonly rootfs: ContainerRootfsManager;

  constructor(root: string) {
    this.layers = new LayerStore(join(root, 'overlay'));
    this.rootfs = new ContainerRootfsManager(this.layers);
  }

  /** Creates the directories and discards what interrupted unpacks left. */
  async init(): Promise<void> {
    this.layers.init();
    await this.rootfs.init();
  }

  /** Mounts an overlay of `layers` (chain IDs, bottom first) with a fresh upper dir. */
  createContainerRootfs(request: RootfsRequest): Promise<Rootfs> {
    return this.rootfs.create(request);
  }

  /** Unmounts and deletes the container's root filesystem; idempotent. */
  removeContainerRootfs(containerId: string): Promise<void> {
    return this.rootfs.remove(containerId);
  }

  /** The container's writable layer (its overlay upper dir). */
  upperDirOf(containerId: string): string {
    return this.rootfs.upperDirOf(containerId);
  }

  isMounted(containerId: string): boolean {
    return this.rootfs.isMounted(containerId);
  }

  /** Mounts the container's root filesystem again if its mount is gone (after a reboot). */
  remountAfterReboot(containerId: string): Promise<Rootfs | undefined> {
    return this.rootfs.remount(containerId);
  }

  layersInUseByContainers(): Promise<Set<string>> {
    return this.rootfs.layersInUse();
  }

  /** Where the layer store lives, and the bytes and inodes its layers hold. */
  usage(): { mountpoint: string; usedBytes: number; inodesUsed: number } {
    let usedBytes = 0;
    let inodesUsed = 0;
    for (const meta of this.layers.list()) {
      usedBytes += meta.bytes;
      inodesUsed += meta.inodes;
    }
    return { mountpoint: this.layers.root, usedBytes, inodesUsed };
  }
}
