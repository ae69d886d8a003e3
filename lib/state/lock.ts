import { openSync, writeSync, closeSync, readFileSync, unlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPreconditionError } from '../errors/index.js';

export interface RootLock {
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One daemon per root dir. Node has no flock(2), so the lock is a pid file created with
 * O_EXCL; a file left by a daemon that died (its pid gone, or reused by another program)
 * is taken over.
 */
export function acquireRootLock(root: string): RootLock {
  mkdirSync(root, { recursive: true, mode: 0o711 });
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
