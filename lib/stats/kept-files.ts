import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CgroupFiles } from './sources.js';

/** Control files are small; one that fills this is read again whole. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Past this many open files (objects gone without a full listing to notice), all are closed and reopened on demand. */
const MAX_KEPT = 16_384;

/**
 * Cgroup control files kept open between stats calls: a read is one pread at offset 0 (the
 * kernel regenerates the file's text for it), not an open, a read and a close with a path
 * walk each, and a file the cgroup does not have (memsw without swap accounting, pressure
 * files without PSI) is remembered as absent instead of failing an open every time.
 */
export class KeptCgroupFiles implements CgroupFiles {
  /** Per cgroup, per file: its descriptor, or null when the cgroup has no such file. */
  private readonly open = new Map<string, Map<string, number | null>>();
  private count = 0;
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

  constructor(private readonly files: CgroupFiles) {}

  get layout(): { version: 1 | 2 } {
    return this.files.layout;
  }

  filePath(path: string, file: string): string | undefined {
    return this.files.filePath(path, file);
  }

  read(path: string, file: string): string | undefined {
    let fd = this.open.get(path)?.get(file);
    if (fd === null) return undefined;
    if (fd === undefined) {
      const abs = this.files.filePath(path, file);
      if (!abs) return undefined;
      try {
        fd = openSync(abs, 'r');
      } catch {
        // A missing cgroup may yet be made: only a file missing from an existing one is remembered.
        if (existsSync(dirname(abs))) this.remember(path, file, null);
        return undefined;
      }
      if (this.count >= MAX_KEPT) this.closeAll();
      this.remember(path, file, fd);
    }
    try {
      const n = readSync(fd, this.buffer, 0, READ_BUFFER_BYTES, 0);
      // control files are ASCII: latin1 decodes them byte for byte, faster than utf8
      if (n < READ_BUFFER_BYTES) return this.buffer.toString('latin1', 0, n);
      return readFileSync(this.files.filePath(path, file)!, 'utf8');
    } catch {
      // The cgroup was removed: its files answer ENODEV. Forget them all.
      this.close(path);
      return undefined;
    }
  }

  private remember(path: string, file: string, fd: number | null): void {
    let files = this.open.get(path);
    if (!files) {
      files = new Map();
      this.open.set(path, files);
    }
    files.set(file, fd);
    if (fd !== null) this.count++;
  }

  private close(path: string): void {
    const files = this.open.get(path);
    if (!files) return;
    for (const fd of files.values()) {
      if (fd === null) continue;
      this.count--;
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
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
