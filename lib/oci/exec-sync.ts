import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { RUN, type HelperExit, type SpawnHelper } from '../process/index.js';
import { prepareExec, startFailureCode, type ExecLaunch, type ExecProcess } from './exec.js';
import { killTree } from './process-tree.js';
import type { ExecSyncRequest, ExecSyncResult } from './runtime.js';

/** After a timeout kills the exec'd processes, runc normally follows within milliseconds; it is killed itself after this. */
const RUNTIME_KILL_GRACE_MS = 2_000;

/** Keeps the first `cap` bytes of a stream and drops the rest (the stream is still drained). */
class CappedBuffer {
  private readonly parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.parts.push(kept);
    this.size += kept.length;
  }
  value(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * Runs an exec to its end and answers with its exit code and output. A timeout or a cancelled
 * call kills the exec'd process tree and still answers: exit code 137 (unless the process
 * reported another) and the output captured so far.
 */
export async function collectExec(proc: ExecProcess, req: ExecSyncRequest): Promise<ExecSyncResult> {
  const stdout = new CappedBuffer(req.outputCap);
  const stderr = new CappedBuffer(req.outputCap);
  proc.stdout.on('data', (d: Buffer) => stdout.push(d));
  proc.stderr?.on('data', (d: Buffer) => stderr.push(d));
  let timedOut = false;
  const stop = () => {
    timedOut = true;
    proc.kill(RUNTIME_KILL_GRACE_MS);
  };
  const timer = req.timeoutMs > 0 ? setTimeout(stop, req.timeoutMs) : undefined;
  if (req.signal?.aborted) stop();
  else req.signal?.addEventListener('abort', stop, { once: true });
  let outcome;
  try {
    outcome = await proc.exited;
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', stop);
  }
  let exitCode = 'error' in outcome ? 255 : outcome.exitCode;
  if (timedOut && exitCode === 0) exitCode = 137;
  return { exitCode, stdout: stdout.value(), stderr: stderr.value(), timedOut };
}

/**
 * ExecSync's `runc exec` started by the spawn helper instead of a fork of the daemon: its
 * output comes back whole when it ends (capped as the helper caps it, as `collectExec` does;
 * output of a process it left behind gets the same grace). A timeout or a cancelled call
 * kills the exec'd process tree, then runc itself after a grace period. The exec's directory
 * is removed after the answer, off its path.
 */
export async function execSyncThroughHelper(helper: SpawnHelper, launch: ExecLaunch, req: ExecSyncRequest): Promise<ExecSyncResult> {
  const { runcArgs, pidFile } = prepareExec(launch);
  const proc = helper.run({ file: launch.runtimePath, args: runcArgs, env: process.env, flags: RUN.CAPTURE | RUN.OUTPUT_GRACE });
  let finished = false;
  let timedOut = false;
  let runtimeTimer: NodeJS.Timeout | undefined;
  const stop = () => {
    if (timedOut || finished) return;
    timedOut = true;
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 0) killTree(pid);
    } catch {
      // not started yet: killing runc is enough
    }
    runtimeTimer = setTimeout(() => {
      if (finished) return;
      void proc.pid.then((pid) => {
        if (!finished && pid > 0) killTree(pid);
      });
      proc.kill(osConstants.signals.SIGKILL);
    }, RUNTIME_KILL_GRACE_MS);
    runtimeTimer.unref();
  };
  const timer = req.timeoutMs > 0 ? setTimeout(stop, req.timeoutMs) : undefined;
  if (req.signal?.aborted) stop();
  else req.signal?.addEventListener('abort', stop, { once: true });
  let exit: HelperExit;
  try {
    exit = await proc.exited;
  } finally {
    finished = true;
    clearTimeout(timer);
    clearTimeout(runtimeTimer);
    req.signal?.removeEventListener('abort', stop);
  }
  const started = existsSync(pidFile);
  void rm(launch.dir, { recursive: true, force: true }).catch(() => undefined);
  if (exit.kind === 'error') return { exitCode: 255, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), timedOut };
  let exitCode: number;
  if (exit.kind === 'signal') exitCode = 128 + exit.value;
  else exitCode = started ? exit.value : startFailureCode(exit.value, exit.stderr.toString('utf8'));
  if (timedOut && exitCode === 0) exitCode = 137;
  return { exitCode, stdout: exit.stdout.subarray(0, req.outputCap), stderr: exit.stderr.subarray(0, req.outputCap), timedOut };
}
