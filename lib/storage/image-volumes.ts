import { readdirSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';
import { mountOverlay, mountPoints, unmount } from '../mount/index.js';
import type { LayerStore } from './layer-store.js';

export interface ImageVolumeRequest {
  containerId: string;
  /** Chain IDs of the image, bottom layer first. */
  layers: string[];
  /** Where to mount (made here); it must be below the directory the container's volumes share. */
  mountPoint: string;
}

interface VolumeRecord {
  layers: string[];
  mountPoint: string;
}

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * Image volumes (CRI `Mount.image`): each a read-only overlay of an image's layers with no
 * upper directory, so nothing the container does can reach the layer store. A record per
 * container (`image-volumes/<id>.json` in the store) lists its volumes' layers and mount
 * points: it is written before a mount is made, keeps those layers from garbage collection
 * while the container exists (even once its image is removed), and says what to unmount at
 * removal, after a daemon restart too.
 */
export class ImageVolumeManager {
  private readonly recordsDir: string;

  constructor(private readonly layers: LayerStore, private readonly emptyLower: string) {
    this.recordsDir = join(layers.root, 'image-volumes');
  }

  async init(): Promise<void> {
    await mkdir(this.recordsDir, { recursive: true, mode: 0o700 });
  }

  private recordPath(containerId: string): string {
    if (!CONTAINER_ID.test(containerId)) throw new InvalidArgumentError(`invalid container ID "${containerId}"`);
    return join(this.recordsDir, `${containerId}.json`);
  }

  private async read(containerId: string): Promise<VolumeRecord[]> {
    try {
      return JSON.parse(await readFile(this.recordPath(containerId), 'utf8')) as VolumeRecord[];
    } catch {
      return [];
    }
  }

  private async write(containerId: string, records: VolumeRecord[]): Promise<void> {
    const path = this.recordPath(containerId);
    const temporary = `${path}.tmp`;
    await writeFile(temporary, JSON.stringify(records), { mode: 0o600 });
    await rename(temporary, path);
  }

  /** Mounts the image's layers read-only at `mountPoint`; returns it. */
  async mount(request: ImageVolumeRequest): Promise<string> {
    // Nothing to overlay (an image of no layers): the store's empty directory is the whole image.
    if (request.layers.length === 0) return this.emptyLower;
    const records = await this.read(request.containerId);
    if (!records.some((r) => r.mountPoint === request.mountPoint)) {
      records.push({ layers: request.layers, mountPoint: request.mountPoint });
      await this.write(request.containerId, records);
    }
    // Traversable by anyone: a user-namespaced container's root is not the node's root.
    await mkdir(dirname(request.mountPoint), { recursive: true, mode: 0o711 });
    await mkdir(request.mountPoint, { recursive: true, mode: 0o755 });
    if (mountPoints().has(request.mountPoint)) return request.mountPoint;
    // Top layer first; the empty directory last because overlayfs wants two lower
    // directories when there is no upper one, and an image may have a single layer.
    const lower = [...this.layers.lowerDirs([...request.layers].reverse()), relative(this.layers.root, this.emptyLower)].join(':');
    await mountOverlay(request.mountPoint, `ro,lowerdir=${lower}`, this.layers.root);
    return request.mountPoint;
  }

  /** Unmounts every volume of the container and forgets them; a container without any is a no-op. */
  async release(containerId: string): Promise<void> {
    const records = await this.read(containerId);
    for (const r of records) {
      // Busy (a process of the node still has a file open there): detach it now.
      await unmount(r.mountPoint, { lazyFallback: true });
      await rmdir(r.mountPoint).catch(() => undefined);
    }
    const parents = new Set(records.map((r) => dirname(r.mountPoint)));
    for (const p of parents) await rmdir(p).catch(() => undefined);
    await rm(this.recordPath(containerId), { force: true });
  }

  /** Containers that have a volume record. */
  containers(): string[] {
    try {
      return readdirSync(this.recordsDir).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
    } catch {
      return [];
    }
  }

  /** Chain IDs the volumes of existing containers use; garbage collection keeps them. */
  async layersInUse(): Promise<Set<string>> {
    const used = new Set<string>();
    for (const name of await readdir(this.recordsDir).catch(() => [] as string[])) {
      if (!name.endsWith('.json')) continue;
      for (const r of await this.read(name.slice(0, -'.json'.length))) r.layers.forEach((l) => used.add(l));
    }
    return used;
  }
}
