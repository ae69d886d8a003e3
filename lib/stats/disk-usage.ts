import { lstatSync, opendirSync, type Dir, type Dirent, type Stats } from 'node:fs';
import { join } from 'node:path';
import { mountHolding, parseMountInfo, readMountInfo, type MountEntry } from '../mount/index.js';

export interface DiskUsage {
  bytes: bigint;
  inodes: bigint;
  /** When the walk finished, in nanoseconds since the epoch. */
  atNs: bigint;
}

/** Entries examined between yields to the event loop: a big layer is walked in slices of about a millisecond. */
const ENTRIES_PER_SLICE = 512;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Bytes (allocated blocks, as `du` counts) and inodes below `dir`, a hard-linked file counted
 * once. A directory that vanishes mid-walk (a container deleting files) is skipped, not an error.
 * The walk makes synchronous calls, in slices: a writable layer usually holds a handful of
 * files, and a thread-pool round trip per file cost far more than the lstat itself.
 */
export async function measureTree(dir: string): Promise<{ bytes: bigint; inodes: bigint }> {
  // Plain numbers count exactly up to 2^53 bytes (8 PiB).
  let bytes = 0;
  let inodes = 0;
  const seen = new Set<string>();
  const pending = [dir];
  let budget = ENTRIES_PER_SLICE;
  while (pending.length > 0) {
    const current = pending.pop()!;
    let handle: Dir;
    try {
      handle = opendirSync(current, { bufferSize: 256 });
    } catch {
      continue;
    }
    try {
      for (let entry = readEntry(handle); entry; entry = readEntry(handle)) {
        if (--budget <= 0) {
          await nextTurn();
          budget = ENTRIES_PER_SLICE;
        }
        const path = join(current, entry.name);
        const st = lstatOrUndefined(path);
        if (!st) continue;
        if (st.nlink > 1 && !st.isDirectory()) {
          const key = `${st.dev}:${st.ino}`;
          if (seen.has(key)) continue;
          seen.add(key);
        }
        inodes++;
        bytes += st.blocks * 512;
        if (entry.isDirectory()) pending.push(path);
      }
    } finally {
      handle.closeSync();
    }
  }
  return { bytes: BigInt(bytes), inodes: BigInt(inodes) };
}

/** The next entry; null at the end, or when the directory went away under the walk. */
function readEntry(handle: Dir): Dirent | null {
  try {
    return handle.readSync();
  } catch {
    return null;
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
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
 * re-walk, and the queue is walked one directory per event-loop turn: a hundred layers going
 * stale together cost a hundred small walks spread between the calls being answered, not a
 * hundred at once in front of them. So an answer's figure is at
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

  /** The measurement, waiting only for a directory's first walk. */
  async get(dir: string): Promise<DiskUsage> {
    return this.current(dir) ?? this.first(dir);
  }

  /**
   * The last measurement at once, a stale one queued for its re-walk; undefined while the
   * directory has never been measured (`get` starts and waits for that walk).
   */
  current(dir: string): DiskUsage | undefined {
    const entry = this.entries.get(dir);
    if (!entry?.value) return undefined;
    const stale = this.now() - entry.value.atNs >= BigInt(this.ttlMs) * 1_000_000n;
    if (stale && !entry.queued) {
      entry.queued = true;
      this.queue.push(dir);
      if (!this.draining) void this.drain();
    }
    return entry.value;
  }

  private first(dir: string): Promise<DiskUsage> {
    let entry = this.entries.get(dir);
    if (!entry) {
      entry = {};
      this.entries.set(dir, entry);
    }
    const waiting = entry;
    waiting.first ??= this.walk(dir, waiting).finally(() => {
      waiting.first = undefined;
    });
    return waiting.first;
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
        // Each re-walk in a turn of its own, after the I/O waiting: the answer of the call that
        // found the measurements stale goes out first, not after a hundred walks.
        await nextTurn();
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

/**
 * The mount point of the filesystem holding `path` (the longest mount point above it): `fs_id`.
 * `mountinfo` is the mount table as text or parsed (read now when absent).
 */
export function mountPointOf(path: string, mountinfo?: string | readonly MountEntry[]): string {
  const entries = mountinfo === undefined ? readMountInfo() : typeof mountinfo === 'string' ? parseMountInfo(mountinfo) : mountinfo;
  return mountHolding(path, entries)?.mountPoint ?? '/';
}
