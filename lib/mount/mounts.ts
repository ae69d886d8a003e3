import { runCommand } from '../process/index.js';
import { MNT_DETACH, MS, MountCallError, mountHelper, splitMountOptions } from './helper.js';
import { mountHolding, mountPoints, readMountInfo } from './mountinfo.js';

const MOUNT_TIMEOUT_MS = 30_000;

// Each call goes to the mount helper (native/mount-helper, a syscall over a pipe) when it is
// built, and to mount(8) / umount(8) otherwise: same calls, a fork and exec dearer.

function mountCommand(args: string[], cwd?: string): Promise<unknown> {
  return runCommand('mount', args, { timeoutMs: MOUNT_TIMEOUT_MS, ...(cwd ? { cwd } : {}) });
}

function umountCommand(args: string[]): Promise<unknown> {
  return runCommand('umount', args, { timeoutMs: MOUNT_TIMEOUT_MS });
}

/** Bind-mounts `source` (a file or directory, or an nsfs file of /proc) onto the existing `target`. */
export async function bindMount(source: string, target: string, opts: { recursive?: boolean } = {}): Promise<void> {
  const helper = mountHelper();
  if (helper) await helper.mount(source, target, '', MS.BIND | (opts.recursive ? MS.REC : 0), '');
  else await mountCommand([opts.recursive ? '--rbind' : '--bind', source, target]);
}

/** An overlay mount at `target`; relative paths in `options` resolve against `cwd`. */
export async function mountOverlay(target: string, options: string, cwd: string): Promise<void> {
  const helper = mountHelper();
  if (helper) await helper.mount('overlay', target, 'overlay', 0, options, cwd);
  else await mountCommand(['-t', 'overlay', 'overlay', '-o', options, target], cwd);
}

/** A tmpfs at `target` with the given mount options. */
export async function mountTmpfs(target: string, source: string, options: string): Promise<void> {
  const helper = mountHelper();
  if (!helper) {
    await mountCommand(['-t', 'tmpfs', '-o', options, source, target]);
    return;
  }
  const { flags, data } = splitMountOptions(options);
  await helper.mount(source, target, 'tmpfs', flags, data);
}

async function setPropagation(path: string, kind: 'shared' | 'private'): Promise<void> {
  const helper = mountHelper();
  if (helper) await helper.mount('', path, '', kind === 'shared' ? MS.SHARED : MS.PRIVATE, '');
  else await mountCommand([`--make-${kind}`, path]);
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
  // recursive, so mounts already below `path` stay visible through the new one.
  if (selfBind) await bindMount(path, path, { recursive: true });
  await setPropagation(path, 'shared');
  return selfBind;
}

/**
 * Makes `dir` a private mount point (bind-mounting it onto itself first if needed): nsfs files
 * can only be pinned on a non-shared mount. One that already is (every start after the first)
 * is left as it is, with no call to the mount helper.
 */
export async function ensurePrivateMount(dir: string): Promise<void> {
  // The last entry for a mount point is the mount on top.
  const top = readMountInfo().filter((m) => m.mountPoint === dir).pop();
  if (top && !top.optional.some((tag) => tag.startsWith('shared:') || tag.startsWith('master:'))) return;
  if (!top) await bindMount(dir, dir);
  await setPropagation(dir, 'private');
}

/** Mount points strictly below `dir`. */
export function mountsBelow(dir: string): string[] {
  const prefix = `${dir.replace(/\/$/, '')}/`;
  return [...mountPoints()].filter((p) => p.startsWith(prefix));
}

async function umountOne(path: string, lazy: boolean): Promise<void> {
  const helper = mountHelper();
  if (helper) await helper.umount(path, lazy ? MNT_DETACH : 0);
  else await umountCommand(lazy ? ['-l', path] : [path]);
}

const EINVAL = 22;
const ENOENT = 2;

/**
 * umount2 through the helper, a path that is no mount point (EINVAL) or not there at all
 * (ENOENT) counting as done: asking the kernel is one syscall, where reading the mount table
 * first cost a millisecond and more on a node with a hundred containers' mounts.
 */
async function umountIfMounted(path: string, lazy: boolean): Promise<void> {
  try {
    await umountOne(path, lazy);
  } catch (err) {
    if (err instanceof MountCallError && (err.errno === EINVAL || err.errno === ENOENT)) return;
    throw err;
  }
}

/**
 * Unmounts `path` if it is a mount point. With `lazyFallback`, a busy mount (a process still
 * has something open in it) is detached instead, and the kernel frees it once released.
 */
export async function unmount(path: string, opts: { lazy?: boolean; lazyFallback?: boolean } = {}): Promise<void> {
  // umount(8) cannot tell "not mounted" apart from a failure: without the helper, look first.
  if (!mountHelper() && !mountPoints().has(path)) return;
  if (opts.lazy) {
    await umountIfMounted(path, true);
    return;
  }
  try {
    await umountIfMounted(path, false);
  } catch (err) {
    if (!opts.lazyFallback) throw err;
    await umountIfMounted(path, true);
  }
}

/** Unmounts those of `paths` that are mount points (every one tried; the first failure is thrown). */
export async function unmountAll(paths: readonly string[]): Promise<void> {
  if (!mountHelper()) {
    const mounted = mountPoints();
    const targets = paths.filter((p) => mounted.has(p));
    if (targets.length > 0) await umountCommand(targets);
    return;
  }
  const results = await Promise.allSettled(paths.map((p) => umountIfMounted(p, false)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
