import { posix } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';

export type CgroupDriver = 'cgroupfs' | 'systemd';

/**
 * Expands a systemd slice name to its cgroupfs directory: every dash-separated prefix is a
 * parent slice (`a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root).
 */
export function expandSlice(slice: string): string {
  const suffix = '.slice';
  if (!slice.endsWith(suffix) || slice.length <= suffix.length || slice.includes('/')) {
    throw new InvalidArgumentError(`"${slice}" is not a systemd slice name`);
  }
  const name = slice.slice(0, -suffix.length);
  if (name === '-') return '/';
  if (name.startsWith('-') || name.endsWith('-') || name.includes('--')) {
    throw new InvalidArgumentError(`"${slice}" is not a valid systemd slice name`);
  }
  let path = '';
  let prefix = '';
  for (const part of name.split('-')) {
    prefix = prefix ? `${prefix}-${part}` : part;
    path += `/${prefix}${suffix}`;
  }
  return path;
}

function cleanAbsolute(path: string): string {
  const normalized = posix.normalize(`/${path}`);
  if (normalized.split('/').includes('..')) throw new InvalidArgumentError(`cgroup path "${path}" escapes the cgroup root`);
  return normalized.length > 1 ? normalized.replace(/\/+$/, '') : normalized;
}

/** Where a pod's cgroup lives, in both forms runcri needs. */
export interface PodCgroupPath {
  /** The form containers are placed under: a directory path (cgroupfs) or a slice name (systemd). */
  parent: string;
  /** The directory below each hierarchy's mount point, e.g. `/kubepods/burstable/pod123`. */
  path: string;
}

/**
 * The pod cgroup for a kubelet `cgroup_parent` (empty: a runcri default of the pod's own).
 * A slice name handed to the cgroupfs driver is expanded to the directory the systemd driver
 * would have made, as the peers do, instead of being refused.
 */
export function podCgroupPath(driver: CgroupDriver, cgroupParent: string, podId: string): PodCgroupPath {
  if (driver === 'systemd') {
    const slice = cgroupParent ? posix.basename(cgroupParent) : `runcri-pod${podId}.slice`;
    if (!slice.endsWith('.slice')) {
      throw new InvalidArgumentError(`cgroup_parent "${cgroupParent}" is not a systemd slice, as the systemd cgroup driver requires`);
    }
    return { parent: slice, path: expandSlice(slice) };
  }
  if (!cgroupParent) {
    const path = `/runcri/pod${podId}`;
    return { parent: path, path };
  }
  if (!cgroupParent.includes('/') && cgroupParent.endsWith('.slice')) {
    const path = expandSlice(cgroupParent);
    return { parent: path, path };
  }
  const path = cleanAbsolute(cgroupParent);
  if (path === '/') throw new InvalidArgumentError('cgroup_parent must not be the cgroup root');
  return { parent: path, path };
}

/** `/a/b/c` → [`/a`, `/a/b`, `/a/b/c`]. */
export function ancestorsOf(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

/** The runtime's `cgroupsPath` for a container (or a pod's infra container) below the pod's cgroup parent. */
export function containerCgroupsPath(driver: CgroupDriver, podParent: string, containerId: string): string {
  if (driver === 'systemd') return `${podParent || 'system.slice'}:runcri:${containerId}`;
  const parent = podParent || '/runcri';
  return `${parent.replace(/\/$/, '')}/runcri-${containerId}`;
}
