import { chownSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPreconditionError } from '../errors/index.js';
import { idmapMount, mountPoints, replaceWithOverlay, unmount } from '../mount/index.js';
import type { Paths } from '../paths/index.js';
import type { Rootfs, Storage } from '../storage/index.js';

/**
 * Root filesystems of user-namespaced pods, without chowning a layer: each such pod gets one
 * ID-mapped view of the layer store (mapped by the pod's user namespace), and its containers'
 * overlays take their lower layers from that view, so files of the image that belong to host
 * root appear as the container's root. (An overlay mount cannot itself be ID-mapped; its
 * layers can.) The upper and work dirs stay plain: overlayfs creates its work files there as
 * host root, an ID the view does not map (EOVERFLOW); the container's writes land in the upper
 * dir as its mapped host IDs, and only that fresh, empty upper dir is chowned to the
 * container's root so that it owns `/`.
 */
export class IdmappedRootfs {
  /** Pod ID → its view being (or having been) mounted, so concurrent creates share one. */
  private readonly views = new Map<string, Promise<string>>();

  constructor(private readonly deps: { storage: Pick<Storage, 'layers'>; paths: Paths; helper: () => string | undefined }) {}

  /** Where a user-namespaced container's root filesystem is mounted: below directories anyone may traverse. */
  mountPointFor(containerId: string): string {
    const dir = this.deps.paths.usernsRootfsDir;
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    return join(dir, containerId);
  }

  private viewPath(podId: string): string {
    return this.deps.paths.usernsLayerView(podId);
  }

  private view(podId: string, userns: string): Promise<string> {
    let pending = this.views.get(podId);
    if (!pending) {
      pending = this.mountView(podId, userns);
      this.views.set(podId, pending);
      pending.catch(() => this.views.delete(podId));
    }
    return pending;
  }

  private helper(): string {
    const helper = this.deps.helper();
    if (!helper) throw new FailedPreconditionError('user-namespaced pods need the ID-mapped mount helper (native/idmap-mount, built by make)');
    return helper;
  }

  private async mountView(podId: string, userns: string): Promise<string> {
    const path = this.viewPath(podId);
    if (mountPoints().has(path)) return path;
    const helper = this.helper();
    mkdirSync(path, { recursive: true, mode: 0o700 });
    await idmapMount(helper, userns, this.deps.storage.layers.root, path);
    return path;
  }

  /**
   * Mounts the container's overlay again, from the pod's view: the storage module made it
   * with the store's plain paths, and the same relative paths resolve inside the view.
   */
  async remap(podId: string, userns: string, hostRoot: { uid: number; gid: number }, layers: string[], rootfs: Rootfs): Promise<void> {
    const view = await this.view(podId, userns);
    // overlay wants the top layer first; a layerless image gets the store's empty lower dir.
    const lower = layers.length > 0 ? this.deps.storage.layers.lowerDirs([...layers].reverse()).join(':') : 'empty';
    const options = `lowerdir=${lower},upperdir=${rootfs.upperDir},workdir=${rootfs.workDir}`;
    chownSync(rootfs.upperDir, hostRoot.uid, hostRoot.gid);
    await replaceWithOverlay(this.helper(), rootfs.rootfs, options, view);
  }

  /** Unmounts the pod's view once its containers are gone; a pod that never had one is fine. */
  async releasePod(podId: string): Promise<void> {
    this.views.delete(podId);
    const path = this.viewPath(podId);
    await unmount(path, { lazyFallback: true });
    try {
      rmdirSync(path);
    } catch {
      // never made
    }
  }
}
