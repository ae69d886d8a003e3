import { runCommand } from '../process/index.js';
import { mountHolding, mountPoints, readMountInfo } from './mountinfo.js';

const MOUNT_TIMEOUT_MS = 30_000;

function mountCommand(args: string[], cwd?: string): Promise<unknown> {
  return runCommand('mount', args, { timeoutMs: MOUNT_TIMEOUT_MS, ...(cwd ? { cwd } : {}) });
}

/** Bind-mounts `source` (a file or directory, or an nsfs file of /proc) onto the existing `target`. */
export async function bindMount(source: string, target: string, opts: { recursive?: boolean } = {}): Promise<void> {
  await mountCommand([opts.recursive ? '--rbind' : '--bind', source, target]);
}

/** An overlay mount at `target`; relative paths in `options` resolve against `cwd`. */
export async function mountOverlay(target: string, options: string, cwd: string): Promise<void> {
  await mountCommand(['-t', 'overlay', 'overlay', '-o', options, target], cwd);
}

/** A tmpfs at `target` with the given mount options. */
export async function mountTmpfs(target: string, source: string, options: string): Promise<void> {
  await mountCommand(['-t', 'tmpfs', '-o', options, source, target]);
}

/**
 * Makes `path` a shared mount so slave and shared container mounts see the host's changes.
 * A path that is not a mount point is bind-mounted onto itself first, so only it (not the
 * whole filesystem it lives on) changes propagation. Returns whether it made that mount.
 */
export async function ensureShared(path: string): Promise<boolean> {
  const holder = mountHolding(path, readMountInfo());
  if (holder?.optional.some((o) => o.startsWith('shared:'))) return false;
  const selfBind = holder?.mountPoint !== path;
  // --rbind, so mounts already below `path` stay visible through the new one.
  if (selfBind) await bindMount(path, path, { recursive: true });
  await mountCommand(['--make-shared', path]);
  return selfBind;
}

/** Makes `dir` a private mount point (bind-mounting it onto itself first if needed): nsfs files can only be pinned on a non-shared mount. */
export async function ensurePrivateMount(dir: string): Promise<void> {
  if (!mountPoints().has(dir)) await bindMount(dir, dir);
  await mountCommand(['--make-private', dir]);
}

/** Mount points strictly below `dir`. */
export function mountsBelow(dir: string): string[] {
  const prefix = `${dir.replace(/\/$/, '')}/`;
  return [...mountPoints()].filter((p) => p.startsWith(prefix));
}

/**
 * Unmounts `path` if it is a mount point. With `lazyFallback`, a busy mount (a process still
 * has something open in it) is detached instead, and the kernel frees it once released.
 */
export async function unmount(path: string, opts: { lazy?: boolean; lazyFallback?: boolean } = {}): Promise<void> {
  if (!mountPoints().has(path)) return;
  if (opts.lazy) {
    await runCommand('umount', ['-l', path], { timeoutMs: MOUNT_TIMEOUT_MS });
    return;
  }
  try {
    await runCommand('umount', [path], { timeoutMs: MOUNT_TIMEOUT_MS });
  } catch (err) {
    if (!opts.lazyFallback) throw err;
    await runCommand('umount', ['-l', path], { timeoutMs: MOUNT_TIMEOUT_MS });
  }
}

/** Unmounts those of `paths` that are mount points, in one `umount` run. */
export async function unmountAll(paths: readonly string[]): Promise<void> {
  const mounted = mountPoints();
  const targets = paths.filter((p) => mounted.has(p));
  if (targets.length > 0) await runCommand('umount', targets, { timeoutMs: MOUNT_TIMEOUT_MS });
}
