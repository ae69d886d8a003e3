import { parseMountInfo, readMountInfo, type MountEntry } from '../mount/index.js';

/** Where the cgroup hierarchies are mounted, read from the mount table rather than assumed. */
export interface CgroupLayout {
  /** v2 when `/sys/fs/cgroup` itself is cgroup2; a hybrid host (v1 controllers plus a cgroup2 mount elsewhere) is v1. */
  version: 1 | 2;
  /** v1: each mounted hierarchy's mount point and the controllers (or `name=` hierarchies) it carries. */
  v1: { mountPoint: string; controllers: string[] }[];
  /** v2: the unified hierarchy's mount point. */
  unified?: string;
}

/** Parses `/proc/self/mountinfo` text (pure, so fixtures can test both layouts). */
export function parseCgroupLayout(mountinfo: string): CgroupLayout {
  return layoutOf(parseMountInfo(mountinfo));
}

function layoutOf(mounts: readonly MountEntry[]): CgroupLayout {
  const v1: CgroupLayout['v1'] = [];
  let unified: string | undefined;
  let rootIsV2 = false;
  for (const { root, mountPoint, fsType, superOptions } of mounts) {
    // A bind mount of a sub-cgroup (inside a container) is not the hierarchy's root.
    if (root !== '/') continue;
    if (fsType === 'cgroup2') {
      if (mountPoint === '/sys/fs/cgroup') rootIsV2 = true;
      unified ??= mountPoint;
      if (rootIsV2) unified = mountPoint;
    } else if (fsType === 'cgroup') {
      const controllers = superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro' && !['relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'nsdelegate', 'noprefix', 'xattr'].includes(o) && !o.startsWith('release_agent='));
      if (controllers.length > 0 && !v1.some((h) => h.mountPoint === mountPoint)) v1.push({ mountPoint, controllers });
    }
  }
  if (rootIsV2) return { version: 2, v1: [], unified };
  return { version: 1, v1, unified };
}

let cached: CgroupLayout | undefined;

export function hostCgroupLayout(): CgroupLayout {
  cached ??= layoutOf(readMountInfo());
  return cached;
}
