import { failpoint } from '../failpoints/index.js';
import { unmount } from '../mount/index.js';
import type { OciRuntime } from '../oci/index.js';
import type { Storage } from '../storage/index.js';
import type { IdmappedRootfs } from './idmapped-rootfs.js';
import type { ContainerRecord } from './record.js';
import type { ContainerStore } from './store.js';

export interface ContainerTeardownDeps {
  store: ContainerStore;
  storage: Pick<Storage, 'removeContainerRootfs' | 'removeTree' | 'releaseImageVolumes'>;
  idmapped: IdmappedRootfs;
  runtimeOf: (c: ContainerRecord) => OciRuntime;
}

/** Undoes what a create made, for a failed create, a removal and a create a crash interrupted. */
export class ContainerTeardown {
  constructor(private readonly deps: ContainerTeardownDeps) {}

  /** Removes the container from its runtime, its root filesystem, its directory and its record; each step is a no-op when its part was never made. */
  async remove(c: ContainerRecord): Promise<void> {
    await this.deps.runtimeOf(c).delete(c.id);
    if (c.phase === 'ready') failpoint('container.remove.after-runtime-delete');
    await this.deps.storage.releaseImageVolumes(c.id);
    await this.deps.storage.removeContainerRootfs(c.id);
    // The container could fill it (image volumes): any depth, any path length.
    await this.deps.storage.removeTree(c.containerDir);
    await this.releaseSharedSources(c);
    this.deps.store.forget(c);
  }

  /** A user-namespaced pod's view of the layer store, once its containers are gone. */
  releasePod(podId: string): Promise<void> {
    return this.deps.idmapped.releasePod(podId);
  }

  /** Hands each self bind mount this container made to another container using it, or removes it. */
  private async releaseSharedSources(c: ContainerRecord): Promise<void> {
    for (const path of c.madeShared ?? []) {
      const heir = [...this.deps.store.all()].find((o) => o.id !== c.id && o.propagatedSources?.includes(path));
      if (heir) {
        heir.madeShared = [...(heir.madeShared ?? []), path];
        this.deps.store.persist(heir);
      } else {
        // Lazily: containers may still hold copies of it.
        await unmount(path, { lazy: true });
      }
    }
  }
}
