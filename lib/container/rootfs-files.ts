import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';

const MAX_LINKS = 40;

/**
 * Resolves `path` inside `root` as if `root` were `/`: symlinks are followed, but absolute
 * targets and `..` are taken relative to `root`, so no link in an image can point the
 * daemon at a host file. Returns the host path (which may not exist).
 */
export function resolveInRoot(root: string, path: string): string {
  let pending = posix.normalize(`/${path}`).split('/').filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = posix.join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      isLink = false;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new Error(`too many symbolic links resolving ${path} in the container`);
    const target = readlinkSync(host);
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...target.split('/').filter(Boolean), ...pending];
  }
  return posix.join(root, ...resolved);
}

/** A regular file's text inside the rootfs, or undefined when it is absent or not a regular file. */
export function readFileInRoot(root: string, path: string): string | undefined {
  const host = resolveInRoot(root, path);
  try {
    if (!lstatSync(host).isFile()) return undefined;
    return readFileSync(host, 'utf8');
  } catch {
    return undefined;
  }
}
