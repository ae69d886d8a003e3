import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../log/index.js';
import { LayerStore } from './layer-store.js';
import { ContainerRootfsManager, type Rootfs, type RootfsRequest } from './rootfs.js';
import { ImageVolumeManager, type ImageVolumeRequest } from './image-volumes.js';
import { UnpackPool } from './unpack-pool.js';

export { LayerStore, type LayerMeta } from './layer-store.js';
export { unpackLayer, cleanEntryPath, UnsafeLayerEntryError, LayerWriteError, type UnpackStats } from './unpack.js';
export { TarReader, TarFormatError, parsePaxRecords, type TarEntry, type TarEvent } from './tar-reader.js';
export { xattrVerdict } from './xattr-policy.js';
export { SpecialFiles } from './special-files.js';
export { removeTree } from './remove-tree.js';
export { UnpackPool, type UnpackLease } from './unpack-pool.js';
export { compressionOf, decompressor, type Compression } from './decompress.js';
export { TarFileWriter, tarHeader, tarPadding, TAR_END, type TarHeaderFields, type TarMemberType } from './tar-writer.js';
export type { Rootfs, RootfsRequest } from './rootfs.js';
export type { ImageVolumeRequest } from './image-volumes.js';

export interface StorageOptions {
  log?: Logger;
  /** Layers unpacked at once, each on a worker thread (default: the number of cores). */
  unpackWorkers?: number;
}

/**
 * The layer store and the container root filesystems built from it, under `<root>/overlay`.
 * The image service fills the layers; the container service mounts root filesystems.
 */
export class Storage {
  readonly layers: LayerStore;
  readonly unpacker: UnpackPool;
  private readonly rootfs: ContainerRootfsManager;
  private readonly volumes: ImageVolumeManager;

  constructor(root: string, options: StorageOptions = {}) {
    this.layers = new LayerStore(join(root, 'overlay'), options.log ?? silentLogger());
    this.rootfs = new ContainerRootfsManager(this.layers);
    this.volumes = new ImageVolumeManager(this.layers, this.rootfs.emptyLower);
    this.unpacker = new UnpackPool(options.unpackWorkers ?? availableParallelism());
  }

  /** Creates the directories and discards what interrupted unpacks left. */
  async init(): Promise<void> {
    await this.layers.init();
    await this.rootfs.init();
    await this.volumes.init();
  }

  /** Ends the unpack workers. */
  close(): Promise<void> {
    return this.unpacker.close();
  }

  /** Mounts an overlay of `layers` (chain IDs, bottom first) with a fresh upper dir. */
  createContainerRootfs(request: RootfsRequest): Promise<Rootfs> {
    return this.rootfs.create(request);
  }

  /**
   * Deletes a tree a container could fill (its directory, image volumes included), however
   * deep; one that cannot be deleted is logged and moved aside. Never throws.
   */
  removeTree(path: string): Promise<boolean> {
    return this.layers.removeTree(path);
  }

  /** The IDs that have a root filesystem (containers, and pods with an infra container). */
  rootfsOwners(): Promise<string[]> {
    return this.rootfs.owners();
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

  /** The chain IDs of the container's root filesystem, bottom first. */
  rootfsLayersOf(containerId: string): string[] {
    return this.rootfs.layersOf(containerId);
  }

  /** The unpacked directories of these layers (chain IDs), top first as overlay stacks them. */
  layerDirs(chainIds: readonly string[]): string[] {
    return this.layers.lowerDirs([...chainIds].reverse()).map((l) => join(this.layers.root, l));
  }

  /** Mounts the container's root filesystem again if its mount is gone (after a reboot). */
  remountAfterReboot(containerId: string): Promise<Rootfs | undefined> {
    return this.rootfs.remount(containerId);
  }

  /** Mounts an image's layers read-only for a container (an image volume); returns the mount point. */
  mountImageVolume(request: ImageVolumeRequest): Promise<string> {
    return this.volumes.mount(request);
  }

  /** Unmounts the container's image volumes and lets their layers go; idempotent. */
  releaseImageVolumes(containerId: string): Promise<void> {
    return this.volumes.release(containerId);
  }

  /** Containers that have image volumes on record (recovery looks for ones no container owns). */
  imageVolumeOwners(): string[] {
    return this.volumes.containers();
  }

  async layersInUseByContainers(): Promise<Set<string>> {
    const used = await this.rootfs.layersInUse();
    for (const layer of await this.volumes.layersInUse()) used.add(layer);
    return used;
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
