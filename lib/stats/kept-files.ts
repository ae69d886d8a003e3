import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { installedFsCalls, type FsCalls } from '../util/fs-calls.js';
import type { ControlFileReader } from './cgroup-stats.js';
import type { CgroupFiles } from './sources.js';

/** Control files are small; one that fills this is read again whole. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Past this many open files (objects gone without a full listing to notice), all are closed and reopened on demand. */
const MAX_KEPT = 16_384;
/** Fewer reads than this stay on the event loop: the trip to the thread pool and back costs more than they do. */
const MIN_READS_OFF_LOOP = 16;
/** Reads per thread-pool task at least, so that a task is worth its hand-off. */
const MIN_READS_PER_TASK = 32;
/** libuv's pool has four threads unless told otherwise; more tasks than that would only queue. */
const MAX_TASKS = Math.min(4, availableParallelism());
/** Room for a file not read before; after its first read, half again its last length. */
const FIRST_SLOT_BYTES = 4096;

/** One cgroup's files a batch reads. */
export interface CgroupRead {
  /** The cgroup below each hierarchy's root; '' for none (every file reads as absent). */
  path: string;
  files: readonly string[];
}

/** An open control file and the length of its last read (0 before the first). */
interface KeptFile {
  fd: number;
  length: number;
}

/** A file a batch reads. */
interface BatchEntry {
  path: string;
  file: string;
  kept: KeptFile;
}

/** Where a file's text lands in a batch buffer: room for its last length and half as much again. */
function slotBytes(lastLength: number): number {
  if (lastLength === 0) return FIRST_SLOT_BYTES;
  return (lastLength + (lastLength >> 1) + 64 + 63) & ~63;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * Cgroup control files kept open between stats calls: a read is one pread at offset 0 (the
 * kernel regenerates the file's text for it), not an open, a read and a close with a path
 * walk each, and a file the cgroup does not have (memsw without swap accounting, pressure
 * files without PSI) is remembered as absent instead of failing an open every time.
 *
 * A stats call reads its hundreds of files in one batch (`readBatch`), through the fs-calls
 * addon on libuv's thread pool where it is built: the kernel's formatting of the files, most
 * of a call's time, then runs on the pool's threads side by side, and the event loop serves
 * other calls meanwhile. Descriptors a batch reads are not closed while it runs (a closed
 * number could be reused by another file mid-batch): closes wait until no batch is running.
 */
export class KeptCgroupFiles implements CgroupFiles {
  /** Per cgroup, per file: its descriptor, or null when the cgroup has no such file. */
  private readonly open = new Map<string, Map<string, KeptFile | null>>();
  private count = 0;
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly calls: FsCalls | undefined;
  private batchesRunning = 0;
  private readonly closeAfterBatches: number[] = [];

  /** `calls` null: every read on the event loop, whatever is installed (the tests of that path use it). */
  constructor(private readonly files: CgroupFiles, calls?: FsCalls | null) {
    this.calls = calls === null ? undefined : (calls ?? installedFsCalls());
  }

  get layout(): { version: 1 | 2 } {
    return this.files.layout;
  }

  filePath(path: string, file: string): string | undefined {
    return this.files.filePath(path, file);
  }

  read(path: string, file: string): string | undefined {
    const kept = this.kept(path, file);
    return kept ? this.readNow(path, file, kept) : undefined;
  }

  /**
   * Reads every file of every cgroup named, all at once; each answer's reader gives that
   * cgroup's files (a file not named in its request is read when asked for).
   */
  async readBatch(reads: readonly CgroupRead[]): Promise<ControlFileReader[]> {
    // From the first descriptor taken: a file opened for this batch may close others (MAX_KEPT).
    this.batchesRunning++;
    let texts: (string | undefined)[];
    const batch: BatchEntry[] = [];
    // Per request, per file: where it is in the batch, or -1 when there is no such file.
    let indexes: number[][];
    try {
      indexes = reads.map((r) => r.files.map((file) => {
        const kept = r.path ? this.kept(r.path, file) : undefined;
        if (!kept) return -1;
        batch.push({ path: r.path, file, kept });
        return batch.length - 1;
      }));
      const calls = this.calls;
      texts = calls && batch.length >= MIN_READS_OFF_LOOP ? await this.readOffLoop(calls, batch) : batch.map((b) => this.readNow(b.path, b.file, b.kept));
    } finally {
      this.batchesRunning--;
      if (this.batchesRunning === 0) for (const fd of this.closeAfterBatches.splice(0)) closeQuietly(fd);
    }
    return reads.map((r, i) => (file: string) => {
      const at = r.files.indexOf(file);
      if (at < 0) return r.path ? this.read(r.path, file) : undefined;
      const index = indexes[i]![at]!;
      return index < 0 ? undefined : texts[index];
    });
  }

  /** The batch's preads on the thread pool, in up to MAX_TASKS tasks side by side. */
  private async readOffLoop(calls: FsCalls, batch: readonly BatchEntry[]): Promise<(string | undefined)[]> {
    const n = batch.length;
    const fds = new Int32Array(n);
    const slots = new Int32Array(n + 1);
    const lengths = new Int32Array(n);
    let end = 0;
    for (let i = 0; i < n; i++) {
      fds[i] = batch[i]!.kept.fd;
      slots[i] = end;
      end += slotBytes(batch[i]!.kept.length);
    }
    slots[n] = end;
    const buffer = Buffer.allocUnsafeSlow(end);
    const tasks = Math.max(1, Math.min(MAX_TASKS, Math.floor(n / MIN_READS_PER_TASK)));
    const perTask = Math.ceil(n / tasks);
    const running: Promise<void>[] = [];
    for (let start = 0; start < n; start += perTask) running.push(calls.preadBatch(fds, buffer, slots, lengths, start, Math.min(n, start + perTask)));
    await Promise.all(running);
    return batch.map((b, i) => {
      const length = lengths[i]!;
      // The cgroup was removed: its files answer ENODEV. Forget them all.
      if (length < 0) {
        this.close(b.path);
        return undefined;
      }
      // It may have more than its slot held: read again, whole.
      if (length === slots[i + 1]! - slots[i]!) return this.readNow(b.path, b.file, b.kept);
      b.kept.length = length;
      // control files are ASCII: latin1 decodes them byte for byte, faster than utf8
      return buffer.toString('latin1', slots[i]!, slots[i]! + length);
    });
  }

  /** The file kept open, opened now if it is not yet; undefined when the cgroup has no such file. */
  private kept(path: string, file: string): KeptFile | undefined {
    const known = this.open.get(path)?.get(file);
    if (known !== undefined) return known ?? undefined;
    const abs = this.files.filePath(path, file);
    if (!abs) return undefined;
    let fd: number;
    try {
      fd = openSync(abs, 'r');
    } catch {
      // A missing cgroup may yet be made: only a file missing from an existing one is remembered.
      if (existsSync(dirname(abs))) this.remember(path, file, null);
      return undefined;
    }
    if (this.count >= MAX_KEPT) this.closeAll();
    const kept = { fd, length: 0 };
    this.remember(path, file, kept);
    return kept;
  }

  private readNow(path: string, file: string, kept: KeptFile): string | undefined {
    try {
      const n = readSync(kept.fd, this.buffer, 0, READ_BUFFER_BYTES, 0);
      kept.length = n;
      if (n < READ_BUFFER_BYTES) return this.buffer.toString('latin1', 0, n);
      return readFileSync(this.files.filePath(path, file)!, 'utf8');
    } catch {
      // The cgroup was removed: its files answer ENODEV. Forget them all.
      this.close(path);
      return undefined;
    }
  }

  private remember(path: string, file: string, kept: KeptFile | null): void {
    let files = this.open.get(path);
    if (!files) {
      files = new Map();
      this.open.set(path, files);
    }
    files.set(file, kept);
    if (kept !== null) this.count++;
  }

  private close(path: string): void {
    const files = this.open.get(path);
    if (!files) return;
    for (const kept of files.values()) {
      if (kept === null) continue;
      this.count--;
      if (this.batchesRunning > 0) this.closeAfterBatches.push(kept.fd);
      else closeQuietly(kept.fd);
    }
    this.open.delete(path);
  }

  /** Closes the files of every cgroup not in `live`, after a full listing. */
  retain(live: ReadonlySet<string>): void {
    for (const path of [...this.open.keys()]) if (!live.has(path)) this.close(path);
  }

  closeAll(): void {
    for (const path of [...this.open.keys()]) this.close(path);
  }
}
