import { readdir } from 'node:fs/promises';
import type { Logger } from '../log/index.js';
import type { Paths } from '../paths/index.js';
import type { Services } from './services.js';

/**
 * After recovery: removes the root filesystems and container directories that no pod or
 * container record names. Records are synced to disk before an RPC answers, not at each
 * commit, so a power loss during a CreateContainer can keep the new container's directories
 * while losing its `creating` record (a killed daemon loses no record: SQLite's WAL is in the
 * page cache). Left alone, such a root filesystem would also keep its layers from garbage
 * collection for good.
 */
export async function removeUnrecorded(services: Services, paths: Paths, log: Logger): Promise<void> {
  const { storage } = services;
  const recorded = new Set<string>([...services.pods.list().map((p) => p.id), ...services.containers.list().map((c) => c.id)]);
  for (const owner of await storage.rootfsOwners()) {
    if (recorded.has(owner)) continue;
    log.warn({ container: owner }, 'removing a root filesystem that no record names (a create cut short by a power loss)');
    await storage.removeContainerRootfs(owner);
  }
  for (const id of await readdir(paths.containersDir).catch(() => [] as string[])) {
    if (recorded.has(id)) continue;
    log.warn({ container: id }, 'removing a container directory that no record names');
    await storage.removeTree(paths.containerDir(id));
  }
}
