import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Paths } from '../paths/index.js';
import { readIfExists } from '../util/files.js';
import type { ExitStatus } from './runtime.js';

/** conmon gives the OOM killer's victims this code; an exit with another code is not OOM even with the marker. */
const OOM_EXIT_CODE = 137;

/** Whether `pid` is a live (not zombie) process. */
function processAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The files conmon and the runtime keep for each container, and what they say. conmon writes
 * the exit file when the container exits (empty while it is still being written), an `oom`
 * marker in its persist dir when the OOM killer struck, the container's and its own PID in
 * the bundle, and a link SOCKETS/ID to the bundle, where its attach socket is: Unix socket
 * paths are short, bundle paths may not be.
 */
export class ConmonFiles {
  /**
   * The exit directory's names, listed once per synchronous pass (dropped at the next
   * microtask): a listing of N containers checks each against one readdir, where a stat each
   * walked N paths (about 1 ms a call at 100 containers).
   */
  private exitListing: ReadonlySet<string> | undefined;

  constructor(private readonly paths: Paths) {}

  get exitDir(): string {
    return this.paths.exitDir;
  }

  get socketDir(): string {
    return this.paths.socketDir;
  }

  bundle(id: string): string {
    return this.paths.bundle(id);
  }

  config(id: string): string {
    return join(this.bundle(id), 'config.json');
  }

  /** The container's init PID, written by the runtime. */
  pidFile(id: string): string {
    return join(this.bundle(id), 'pidfile');
  }

  conmonPidFile(id: string): string {
    return join(this.bundle(id), 'conmon.pid');
  }

  controlFifo(id: string): string {
    return join(this.bundle(id), 'ctl');
  }

  /** Survives a reboot, unlike the bundle: conmon writes `exit` and `oom` here too. */
  persistDir(id: string): string {
    return this.paths.containerDir(id);
  }

  exitFile(id: string): string {
    return join(this.exitDir, id);
  }

  attachSocket(id: string): string {
    return join(this.socketDir, id, 'attach');
  }

  exitStatus(id: string, deep: boolean): ExitStatus {
    const recorded = this.readExit(id, 'listed');
    if (recorded) return recorded;
    // Listed but empty: conmon is writing it; the exit watcher fires again once it has.
    if (!deep || this.listedExits().has(id)) return { state: 'running' };
    // A deep look (recovery, a stop's wait) asks whether a process lives: conmon first, as it
    // outlives the container's own. With both gone, the file is looked at once more, fresh, so
    // an exit written after the listing is not missed.
    if (processAlive(Number(readIfExists(this.conmonPidFile(id)) ?? '0'))) return { state: 'running' };
    if (processAlive(Number(readIfExists(this.pidFile(id)) ?? '0'))) return { state: 'running' };
    return this.readExit(id, 'fresh') ?? { state: 'lost' };
  }

  private readExit(id: string, look: 'listed' | 'fresh'): ExitStatus | undefined {
    // Looked at by every read of a running container: no path made, no failed open each.
    if (look === 'listed' && !this.listedExits().has(id)) return undefined;
    const exitFile = this.exitFile(id);
    if (look === 'fresh' && !existsSync(exitFile)) return undefined;
    const text = readIfExists(exitFile)?.trim();
    // Absent, or empty while conmon is still writing it (the exit watcher fires again).
    if (!text) return undefined;
    const code = Number(text);
    const exitCode = Number.isInteger(code) ? code : 255;
    let exitedAt: bigint;
    try {
      // The kernel's coarse clock stamped it when conmon wrote the file, right after the exit.
      exitedAt = statSync(exitFile, { bigint: true }).mtimeNs;
    } catch {
      return undefined;
    }
    const oomKilled = exitCode === OOM_EXIT_CODE && existsSync(join(this.persistDir(id), 'oom'));
    return { state: 'exited', exitCode, exitedAt, oomKilled };
  }

  private listedExits(): ReadonlySet<string> {
    if (this.exitListing) return this.exitListing;
    let names: string[];
    try {
      names = readdirSync(this.exitDir);
    } catch {
      names = [];
    }
    const listing = new Set(names);
    this.exitListing = listing;
    queueMicrotask(() => {
      this.exitListing = undefined;
    });
    return listing;
  }

  /**
   * Removes what conmon and the runtime kept for a deleted container (its persist dir is its
   * owner's). Off the event loop: a bundle's unlinks took some 13 ms on a slow disk, and every
   * other call waited for them.
   */
  async remove(id: string): Promise<void> {
    await rm(this.exitFile(id), { force: true });
    await rm(join(this.socketDir, id), { force: true, recursive: true });
    await rm(this.bundle(id), { recursive: true, force: true });
  }

  /** Socket links whose bundle is gone: what containers deleted by an older runcri left. */
  removeDanglingSocketLinks(): number {
    let removed = 0;
    for (const name of readdirSync(this.socketDir)) {
      const link = join(this.socketDir, name);
      try {
        if (lstatSync(link).isSymbolicLink() && !existsSync(link)) {
          rmSync(link, { force: true });
          removed++;
        }
      } catch {
        // removed meanwhile
      }
    }
    return removed;
  }
}
