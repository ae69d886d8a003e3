import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';
import { mountOverlay, mountPoints, unmount } from '../mount/index.js';
import type { LayerStore } from './layer-store.js';

export interface RootfsRequest {
  containerId: string;
  /** Chain IDs, bottom layer first. */
  layers: string[];
  /** Where to mount; default `<overlay root>/containers/<id>/merged`. */
  mountPoint?: string;
  /** Fills the fresh upper dir before the overlay is mounted (a restored container's changes). */
  prepareUpper?: (upperDir: string) => Promise<void>;
}

export interface Rootfs {
  rootfs: string;
  upperDir: string;
  workDir: string;
}

interface RootfsRecord {
  layers: string[];
  mountPoint: string;
}

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * Container root filesystems: an overlay of the image's layers (through their short links,
 * relative to the store root, so 128 layers fit in one page of mount options) and a
 * per-container upper and work dir under `containers/<id>/`.
 */
export class ContainerRootfsManager {
  readonly containersDir: string;
  /** An empty directory, the lower layer of an image without layers. */
  readonly emptyLower: string;

  constructor(private readonly layers: LayerStore) {
    this.containersDir = join(layers.root, 'containers');
    this.emptyLower = join(layers.root, 'empty');
  }

  async init(): Promise<void> {
    await mkdir(this.containersDir, { recursive: true, mode: 0o700 });
    await mkdir(this.emptyLower, { recursive: true, mode: 0o755 });
  }

  private dirOf(containerId: string): string {
    if (!CONTAINER_ID.test(containerId)) throw new InvalidArgumentError(`invalid container ID "${containerId}"`);
    return join(this.containersDir, containerId);
  }

  upperDirOf(containerId: string): string {
    return join(this.dirOf(containerId), 'upper');
  }

  async create(request: RootfsRequest): Promise<Rootfs> {
    const dir = this.dirOf(request.containerId);
    const upperDir = this.upperDirOf(request.containerId);
    const workDir = join(dir, 'work');
    const mountPoint = request.mountPoint ?? join(dir, 'merged');
    // Three directories and a small file on the node's own disk, on the way of every create:
    // made synchronously, as each trip through the thread pool costs more than the call
    // (and several times more when the node is busy).
    mkdirSync(upperDir, { recursive: true, mode: 0o755 });
    mkdirSync(workDir, { recursive: true, mode: 0o700 });
    mkdirSync(mountPoint, { recursive: true, mode: 0o755 });
    const record: RootfsRecord = { layers: request.layers, mountPoint };
    // Written before mounting: it is what keeps the layers from garbage collection.
    writeFileSync(join(dir, 'rootfs.json'), JSON.stringify(record));
    try {
      if (request.prepareUpper) await request.prepareUpper(upperDir);
      // The mount point was made just now for a new ID: nothing can be mounted there yet, so
      // the mount table (long on a busy node) is not read.
      await this.mount(request.containerId, record);
    } catch (err) {
      await this.layers.removeTree(dir);
      throw err;
    }
    return { rootfs: mountPoint, upperDir, workDir };
  }

  private async mount(containerId: string, record: RootfsRecord): Promise<void> {
    // overlay wants the top layer first.
    const lower = record.layers.length > 0 ? this.layers.lowerDirs([...record.layers].reverse()).join(':') : this.emptyLower;
    const rel = `containers/${containerId}`;
    const options = `lowerdir=${lower},upperdir=${rel}/upper,workdir=${rel}/work`;
    await mountOverlay(record.mountPoint, options, this.layers.root);
  }

  /** The chain IDs of the container's root filesystem, bottom first; empty without one. */
  layersOf(containerId: string): string[] {
    return this.readRecord(containerId)?.layers ?? [];
  }

  isMounted(containerId: string): boolean {
    const record = this.readRecord(containerId);
    return record !== undefined && mountPoints().has(record.mountPoint);
  }

  private readRecord(containerId: string): RootfsRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dirOf(containerId), 'rootfs.json'), 'utf8')) as RootfsRecord;
    } catch {
      return undefined;
    }
  }

  /** Mounts again a root filesystem whose mount is gone (after a reboot); returns its paths. */
  async remount(containerId: string): Promise<Rootfs | undefined> {
    const record = this.readRecord(containerId);
    if (!record) return undefined;
    await mkdir(record.mountPoint, { recursive: true });
    if (!mountPoints().has(record.mountPoint)) await this.mount(containerId, record);
    const dir = this.dirOf(containerId);
    return { rootfs: record.mountPoint, upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
  }

  /** Unmounts and deletes; removing one that does not exist succeeds. */
  async remove(containerId: string): Promise<void> {
    const dir = this.dirOf(containerId);
    const record = this.readRecord(containerId);
    const mountPoint = record?.mountPoint ?? join(dir, 'merged');
    // Busy (a process still has it open): detach now, the kernel frees it when released.
    await unmount(mountPoint, { lazyFallback: true });
    if (record && !record.mountPoint.startsWith(`${dir}/`) && existsSync(record.mountPoint)) {
      await rmdir(record.mountPoint).catch(() => undefined);
    }
    // The upper dir is the container's: any depth, any path length.
    await this.layers.removeTree(dir);
  }

  /** The IDs (of containers and pods' infra containers) that have a root filesystem here. */
  async owners(): Promise<string[]> {
    return readdir(this.containersDir).catch(() => [] as string[]);
  }

  /** Chain IDs the root filesystems of existing containers use; garbage collection keeps them. */
  async layersInUse(): Promise<Set<string>> {
    const used = new Set<string>();
    for (const id of await readdir(this.containersDir).catch(() => [] as string[])) {
      try {
        const record = JSON.parse(await readFile(join(this.containersDir, id, 'rootfs.json'), 'utf8')) as RootfsRecord;
        for (const layer of record.layers) used.add(layer);
      } catch {
        // A directory without a record holds no layers.
      }
    }
    return used;
  }
}
