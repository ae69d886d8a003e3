import type { ExecProcess } from './exec.js';
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
