import { closeSync, fdatasync, openSync } from 'node:fs';

/**
 * Makes committed changes durable in groups, off the event loop.
 *
 * SQLite runs with synchronous=NORMAL: a commit reaches the WAL file through the page cache
 * and survives a killed daemon, but not yet a power loss. `durable()` closes that gap for
 * everything committed before it was called: one fdatasync on the thread pool covers every
 * commit made before it started, so calls that change state at the same time share a sync,
 * and nothing else waits on the disk meanwhile (with synchronous=FULL each commit blocked the
 * event loop on its own fsync).
 */
export class GroupSync {
  private written = 0;
  private synced = 0;
  private inflight: Promise<void> | undefined;

  constructor(private readonly syncToDisk: () => Promise<void>) {}

  /** Called after every commit. */
  noteCommit(): void {
    this.written++;
  }

  /** Resolves once every commit made before the call is on disk; rejects if the sync fails. */
  async durable(): Promise<void> {
    const target = this.written;
    while (this.synced < target) {
      // A sync already under way may have started before this caller's commit: wait for it,
      // then start another if that one did not cover it.
      this.inflight ??= this.syncOnce().finally(() => {
        this.inflight = undefined;
      });
      await this.inflight;
    }
  }

  private async syncOnce(): Promise<void> {
    const covers = this.written;
    await this.syncToDisk();
    if (covers > this.synced) this.synced = covers;
  }
}

/**
 * fdatasync of one file through its own descriptor, opened on first use. A file that is not
 * there yet holds nothing to sync (SQLite makes its WAL at the first commit).
 */
export function fileSyncer(path: string): { sync: () => Promise<void>; close: () => void } {
  let fd: number | undefined;
  return {
    sync: () => {
      if (fd === undefined) {
        try {
          fd = openSync(path, 'r');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve();
          return Promise.reject(err);
        }
      }
      const target = fd;
      return new Promise<void>((resolve, reject) => fdatasync(target, (err) => (err ? reject(err) : resolve())));
    },
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
