import { chmodSync, openSync, writeSync, closeSync, readFileSync, unlinkSync, mkdirSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { FailedPreconditionError } from '../errors/index.js';
import { pidAlive } from '../util/pids.js';

export interface RootLock {
  release(): void;
}

/**
 * One daemon per root dir. Node has no flock(2), so the lock is a pid file created with
 * O_EXCL; a file left by a daemon that died (its pid gone, or reused by another program)
 * is taken over.
 */
export function acquireRootLock(root: string): RootLock {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const path = join(root, 'runcri.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        release() {
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      if (Number.isInteger(holder) && holder !== process.pid && pidAlive(holder) && isRuncri(holder)) {
        throw new FailedPreconditionError(`another runcri (pid ${holder}) is using root ${root}`);
      }
      unlinkSync(path);
    }
  }
  throw new FailedPreconditionError(`could not lock root ${root}`);
}

function isRuncri(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('runcri');
  } catch {
    return false;
  }
}

/**
 * The root holds the state database, image layers and containers' files: only root may enter
 * it (0700), and an install made with 0711 is changed at start. Nothing below it is reached by
 * a pod's own IDs (user-namespaced pods see layers through an ID-mapped mount under state_dir,
 * and overlayfs reaches upper dirs with the mounter's credentials), except state_dir itself
 * when it is configured at or below root: it and its parents must be searchable by those IDs,
 * so such a root stays 0711 (listing it is still refused; the database files are 0600).
 */
export function restrictRootDir(root: string, stateDir: string): number {
  const rel = relative(root, stateDir);
  const stateAtOrBelow = rel === '' || (rel !== '..' && !rel.startsWith('../') && !isAbsolute(rel));
  const mode = stateAtOrBelow ? 0o711 : 0o700;
  chmodSync(root, mode);
  return mode;
}
