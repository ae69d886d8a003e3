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
  /** The first measurement, which callers wait for. */
  first?: Promise<DiskUsage>;
  /** Waiting in the background queue, or being walked by it. */
  queued?: boolean;
}

/**
 * Walking a writable layer on every stats call would cost O(files) each time; this keeps each
 * directory's last measurement and answers with it at once. Only the first question about a
 * directory waits for a walk. A measurement older than `ttlMs` is queued for a background
 * re-walk, and the queue is walked one directory at a time: a hundred layers going stale
 * together cost a hundred small walks in a row, not a hundred at once crowding the thread
 * pool and the event loop in front of the calls being answered. So an answer's figure is at
 * most `ttlMs` plus the time the queue ahead of it takes old (its `atNs` says exactly how old).
 */
export class DiskUsageCache {
  private readonly entries = new Map<string, Entry>();
  private readonly queue: string[] = [];
  private draining = false;

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
    if (!entry.value) {
      entry.first ??= this.walk(dir, entry).finally(() => {
        entry.first = undefined;
      });
      return entry.first;
    }
    const stale = this.now() - entry.value.atNs >= BigInt(this.ttlMs) * 1_000_000n;
    if (stale && !entry.queued) {
      entry.queued = true;
      this.queue.push(dir);
      if (!this.draining) void this.drain();
    }
    return entry.value;
  }

  private async walk(dir: string, entry: Entry): Promise<DiskUsage> {
    const m = await this.measure(dir);
    const value = { ...m, atNs: this.now() };
    entry.value = value;
    return value;
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      for (let dir = this.queue.shift(); dir !== undefined; dir = this.queue.shift()) {
        const entry = this.entries.get(dir);
        // forgotten (the container is gone) while it waited
        if (!entry) continue;
        try {
          await this.walk(dir, entry);
        } catch {
          // a failed re-walk keeps the old value; the next call queues it again
        }
        entry.queued = false;
      }
    } finally {
      this.draining = false;
    }
  }

  retain(live: ReadonlySet<string>): void {
    for (const dir of this.entries.keys()) if (!live.has(dir)) this.entries.delete(dir);
  }
}

/** The mount point of the filesystem holding `path` (the longest mount point above it): `fs_id`. */
export function mountPointOf(path: string, mountinfo?: string): string {
  return mountHolding(path, mountinfo === undefined ? readMountInfo() : parseMountInfo(mountinfo))?.mountPoint ?? '/';
}
