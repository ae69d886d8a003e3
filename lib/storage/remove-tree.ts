import { mkdir, rename, rmdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { runCommand } from '../process/index.js';

/** Long enough for a layer of hundreds of thousands of files on a slow disk. */
const REMOVE_TIMEOUT_MS = 10 * 60_000;

/** `removeTree` for a caller that must stop when the tree stays: throws CommandFailedError. */
export async function deleteTree(path: string): Promise<void> {
  // Nothing there, or an empty directory (a start's scratch dir, mostly): no rm to spawn.
  try {
    await rmdir(path);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
  }
  await runCommand('rm', ['-rf', '--one-file-system', '--', path], { timeoutMs: REMOVE_TIMEOUT_MS });
}

/**
 * Deletes a directory tree an image or a container filled, however deep: the one way layer
 * directories and container upper dirs are removed. Such trees are untrusted: a layer may
 * nest thousands of directories and a container can make its upper dir deeper than PATH_MAX,
 * which breaks a recursive walk by absolute paths (ENAMETOOLONG) or by recursion (a stack
 * overflow in Node's rmSync). GNU rm walks with directory descriptors (openat, unlinkat), so
 * neither depth nor path length limits it, and it runs in its own process. It never crosses
 * into another file system, so a mount left inside the tree is not emptied.
 *
 * Never throws: a tree that cannot be removed is logged and, when `quarantine` is given,
 * renamed into it so its name is free again; the caller goes on either way. Returns whether
 * the tree is gone.
 */
export async function removeTree(path: string, log: Logger, quarantine?: string): Promise<boolean> {
  try {
    await deleteTree(path);
    return true;
  } catch (err) {
    log.error({ path, error: messageOf(err) }, 'could not remove a directory tree; it is left behind');
  }
  if (quarantine) {
    const aside = join(quarantine, `${basename(path)}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(quarantine, { recursive: true, mode: 0o700 });
      await rename(path, aside);
      log.warn({ path, movedTo: aside }, 'leftover directory moved aside');
    } catch (err) {
      log.error({ path, error: messageOf(err) }, 'could not move a leftover directory aside');
    }
  }
  return false;
}
