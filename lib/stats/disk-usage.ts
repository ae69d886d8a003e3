import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { mountHolding, parseMountInfo, readMountInfo } from '../mount/index.js';

export interface DiskUsage {
  bytes: bigint;
  inodes: bigint;
  /** When the walk finished, in nanoseconds since the epoch. */
  atNs: bigint;
}

/**
 * Bytes (allocated blocks, as `du` counts) and inodes below `dir`, a hard-linked file counted
 * once. A directory that vanishes mid-walk (a container deleting files) is skipped, not an error.
 */
export async function measureTree(dir: string): Promise<{ bytes: bigint; inodes: bigint }> {
  let bytes = 0n;
  let inodes = 0n;
  const seen = new Set<string>();
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    let handle;
    try {
      handle = await opendir(current, { bufferSize: 256 });
    } catch {
      continue;
    }
    for await (const entry of handle) {
      const path = join(current, entry.name);
      let st;
      try {
        st = await lstat(path);
      } catch {
        continue;
      }
      if (st.nlink > 1 && !st.isDirectory()) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      inodes++;
      bytes += BigInt(st.blocks) * 512n;
      if (entry.isDirectory()) pending.push(path);
    }
  }
  return { bytes, inodes };
}

interface Entry {
  value?: DiskUsage;
  refreshing?: Promise<DiskUsage>;
}

/**
 * Walking a writable layer on every stats call would cost O(files) each time; this keeps each
 * directory's last measurement for `ttlMs` and refreshes it in the background once stale, so a
 * caller waits for a walk only the first time a directory is asked about.
 */
export class DiskUsageCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => bigint,
    private readonly measure: (dir: string) => Promise<{ bytes: bigint; inodes: bigint }> = measureTree,
  ) {}

  async get(dir: string): Promise<DiskUsage> {
    let entry = this.entries.get(dir);
    if (!entry) {
      entry = {};
      this.entries.set(dir, entry);
    }
    const fresh = entry.value && this.now() - entry.value.atNs < BigInt(this.ttlMs) * 1_000_000n;
    if (fresh) return entry.value!;
    const refreshing = entry.refreshing ?? this.refresh(dir, entry);
    return entry.value ?? refreshing;
  }

  private refresh(dir: string, entry: Entry): Promise<DiskUsage> {
    const job = this.measure(dir).then((m) => {
      const value = { ...m, atNs: this.now() };
      entry.value = value;
      return value;
    }).finally(() => {
      entry.refreshing = undefined;
    });
    entry.refreshing = job;
    // a background refresh that fails keeps the old value; the next call tries again
    job.catch(() => undefined);
    return job;
  }

  retain(live: ReadonlySet<string>): void {
    for (const dir of this.entries.keys()) if (!live.has(dir)) this.entries.delete(dir);
  }
}

/** The mount point of the filesystem holding `path` (the longest mount point above it): `fs_id`. */
export function mountPointOf(path: string, mountinfo?: string): string {
  return mountHolding(path, mountinfo === undefined ? readMountInfo() : parseMountInfo(mountinfo))?.mountPoint ?? '/';
}
