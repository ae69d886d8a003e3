import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { CancelledError, DeadlineExceededError, InternalError } from '../errors/index.js';
import { RUN, spawnHelper, type SpawnHelper } from './spawn-helper.js';

export { RUN, spawnHelper, type HelperExit, type HelperProcess, type SpawnHelper } from './spawn-helper.js';

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

function signalName(signal: number): string {
  return Object.entries(osConstants.signals).find(([, n]) => n === signal)?.[0] ?? `signal ${signal}`;
}

/**
 * Runs an external program with an argument array (never a shell string), a timeout and its
 * stderr captured into the error. Resolves only on exit code 0. RunPodSandbox and
 * CreateContainer run several short programs back to back: on the daemon's main thread they
 * are started by the spawn helper (native/spawn-helper), which spares the daemon a fork of
 * itself per program; elsewhere (worker threads, no helper built) by bare
 * `child_process.spawn`, never a process-wrapper library with its own overhead per call.
 */
export function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const described = `${file} ${args.join(' ')}`;
  if (options.signal?.aborted) return Promise.reject(new CancelledError(`${described}: cancelled before it started`));
  const helper = isMainThread ? spawnHelper() : undefined;
  if (helper) return runThroughHelper(helper, file, args, options, timeoutMs);
  return new Promise((resolve, reject) => {
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

function runThroughHelper(helper: SpawnHelper, file: string, args: readonly string[], options: RunOptions, timeoutMs: number): Promise<RunResult> {
  const described = `${file} ${args.join(' ')}`;
  const proc = helper.run({
    file, args, env: environment(options), ...(options.cwd ? { cwd: options.cwd } : {}), timeoutMs,
    flags: RUN.CAPTURE | (options.input === undefined ? 0 : RUN.INPUT), ...(options.input === undefined ? {} : { input: options.input }),
  });
  let cancelled = false;
  const onAbort = () => {
    cancelled = true;
    proc.kill(osConstants.signals.SIGKILL);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  return proc.exited.then((exit) => {
    options.signal?.removeEventListener('abort', onAbort);
    if (exit.kind === 'error') throw new InternalError(`${described}: ${exit.message}`);
    const stdout = exit.stdout.toString('utf8');
    const stderr = exit.stderr.toString('utf8');
    const tail = stderr.trim() ? `: ${stderr.trim()}` : '';
    if (exit.timedOut) throw new DeadlineExceededError(`${described}: timed out after ${timeoutMs} ms${tail}`);
    if (cancelled) throw new CancelledError(`${described}: cancelled${tail}`);
    if (exit.kind === 'code' && exit.value === 0) return { stdout, stderr, exitCode: 0 };
    throw new CommandFailedError(file, args, exit.kind === 'code' ? exit.value : undefined, stdout, stderr, exit.kind === 'code' ? `exit status ${exit.value}` : `killed by ${signalName(exit.value)}`);
  });
}
