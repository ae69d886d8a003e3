import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CheckpointRequest {
  /** Where CRIU writes its image files (made by the caller, empty). */
  imagePath: string;
  /** Where CRIU runs and leaves dump.log and stats-dump. */
  workPath: string;
  /** The container goes on running after the dump (kubelet's forensic checkpoints). */
  leaveRunning: boolean;
  /** How long the dump may take; 0: the runtime's default. */
  timeoutMs: number;
}

/**
 * What CRIU is told for every dump and restore: established TCP connections and file locks
 * are part of the state (without these a container holding either cannot be dumped at all),
 * and a restore must be told the same to read them back.
 */
const STATE_OPTIONS = ['--tcp-established', '--file-locks'];

/** `runc checkpoint`'s arguments (after the global ones). */
export function checkpointArgs(id: string, req: Pick<CheckpointRequest, 'imagePath' | 'workPath' | 'leaveRunning'>): string[] {
  return ['checkpoint', '--image-path', req.imagePath, '--work-path', req.workPath, ...(req.leaveRunning ? ['--leave-running'] : []), ...STATE_OPTIONS, id];
}

/**
 * conmon's arguments that turn its `runc create` into `runc restore --detach` from the images
 * at `imagePath` (conmon adds --image-path, --work-path as the bundle, and passes each
 * --runtime-opt on to the restore).
 */
export function restoreConmonArgs(imagePath: string): string[] {
  return ['--restore', imagePath, ...STATE_OPTIONS.flatMap((o) => ['--runtime-opt', o])];
}

/** The last lines of the log CRIU wrote for a restore (in the bundle, conmon's work path), for an error message. */
export function restoreLogTail(bundle: string, lines = 8): string {
  try {
    const text = readFileSync(join(bundle, 'restore.log'), 'utf8').trim().split('\n');
    return text.slice(-lines).join('\n');
  } catch {
    return '';
  }
}
