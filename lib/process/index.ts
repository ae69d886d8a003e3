import { spawn } from 'node:child_process';
import { CancelledError, DeadlineExceededError, InternalError } from '../errors/index.js';

export interface RunOptions {
  /** Milliseconds before the program is killed (SIGKILL) and the run fails. */
  timeoutMs?: number;
  input?: string | Buffer;
  env?: Record<string, string | undefined>;
  /** Replace the environment instead of extending the daemon's own. */
  cleanEnv?: boolean;
  cwd?: string;
  /** Kills the program and fails the run when aborted. */
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Thrown when a program exits non-zero; carries its output so callers can explain it. */
export class CommandFailedError extends InternalError {
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  constructor(file: string, args: readonly string[], exitCode: number | undefined, stdout: string, stderr: string, detail: string) {
    super(`${file} ${args.join(' ')}: ${detail}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
    this.exitCode = exitCode;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

function environment(options: RunOptions): NodeJS.ProcessEnv {
  if (options.cleanEnv) return { ...options.env };
  return options.env ? { ...process.env, ...options.env } : process.env;
}

/**
 * Runs an external program with an argument array (never a shell string), a timeout and its
 * stderr captured into the error. Resolves only on exit code 0. Built on bare
 * `child_process.spawn`: RunPodSandbox and CreateContainer run several short programs back
 * to back, and a process-wrapper library's own overhead per call would show in their latency.
 */
export function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const described = `${file} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new CancelledError(`${described}: cancelled before it started`));
      return;
    }
    const child = spawn(file, args, {
      env: environment(options),
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let ended: 'timeout' | 'cancelled' | undefined;
    const kill = (why: 'timeout' | 'cancelled') => {
      ended ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill('timeout'), timeoutMs);
    const onAbort = () => kill('cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    if (child.stdin) {
      // A program that does not read its stdin may exit before the write completes.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
    child.on('error', (err) => {
      settle();
      reject(new InternalError(`${described}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      settle();
      const tail = stderr.trim() ? `: ${stderr.trim()}` : '';
      if (ended === 'timeout') reject(new DeadlineExceededError(`${described}: timed out after ${timeoutMs} ms${tail}`));
      else if (ended === 'cancelled') reject(new CancelledError(`${described}: cancelled${tail}`));
      else if (code === 0) resolve({ stdout, stderr, exitCode: 0 });
      else reject(new CommandFailedError(file, args, code ?? undefined, stdout, stderr, code !== null ? `exit status ${code}` : `killed by ${signal}`));
    });
  });
}
