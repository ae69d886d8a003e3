import { readFileSync } from 'node:fs';
import type { ContainerSource, StatsContainer } from './sources.js';

/** The parts of the container service's record the stats read: what they report, and the pid to find the rest. */
export interface ContainerRecordView extends Omit<StatsContainer, 'cgroupPath' | 'upperDir'> {
  /** The container's init process on the host, while it may be running (0 otherwise). */
  pid: number;
}

/**
 * The cgroup a process is in, from `/proc/PID/cgroup`: the unified (`0::`) line on v2, the
 * memory hierarchy's line on v1 (runc puts a container at the same path in every hierarchy).
 */
export function parseProcCgroup(text: string, version: 1 | 2): string | undefined {
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (version === 2 ? line.startsWith('0::') : controllers.split(',').includes('memory')) return path;
  }
  return undefined;
}

/**
 * Adapts the container service to the stats' view. The cgroup is read from where the
 * container's process actually is, so it is right for either driver and any cgroup_parent
 * without repeating how the spec named it; it is remembered per (container, PID).
 */
export function containerStatsSource(
  records: { get(idOrPrefix: string): ContainerRecordView; list(): ContainerRecordView[] },
  upperDirOf: (containerId: string) => string,
  cgroupVersion: 1 | 2,
  readProc: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): ContainerSource {
  const cgroupOf = new Map<string, { pid: number; path: string }>();
  // A container's writable layer stays where it is for its whole life.
  const upperDirs = new Map<string, string>();
  const upperDir = (id: string): string => {
    let dir = upperDirs.get(id);
    if (dir === undefined) {
      dir = upperDirOf(id);
      upperDirs.set(id, dir);
    }
    return dir;
  };
  const view = (c: ContainerRecordView): StatsContainer => {
    let cgroupPath = '';
    const live = (c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_CREATED') && c.pid > 0;
    if (live) {
      const known = cgroupOf.get(c.id);
      if (known?.pid === c.pid) {
        cgroupPath = known.path;
      } else {
        try {
          cgroupPath = parseProcCgroup(readProc(`/proc/${c.pid}/cgroup`), cgroupVersion) ?? '';
        } catch {
          // the process is gone; the container's state catches up on the next reconcile
        }
        if (cgroupPath) cgroupOf.set(c.id, { pid: c.pid, path: cgroupPath });
      }
    } else {
      cgroupOf.delete(c.id);
    }
    return {
      id: c.id, podId: c.podId, metadata: c.metadata, labels: c.labels, annotations: c.annotations,
      state: c.state, image: c.image, cgroupPath, upperDir: upperDir(c.id),
    };
  };
  return {
    get: (idOrPrefix) => view(records.get(idOrPrefix)),
    list: () => {
      const all = records.list();
      if (cgroupOf.size > all.length || upperDirs.size > all.length) {
        const ids = new Set(all.map((c) => c.id));
        for (const id of cgroupOf.keys()) if (!ids.has(id)) cgroupOf.delete(id);
        for (const id of upperDirs.keys()) if (!ids.has(id)) upperDirs.delete(id);
      }
      return all.map(view);
    },
  };
}
