import { execa } from 'execa';
import { InternalError, DeadlineExceededError } from '../errors/index.js';

export interface RunOptions {
  /** Milliseconds before the program is killed (SIGKILL) and the run fails. */
  timeoutMs?: number;
  input?: string | Buffer;
  env?: Record<string, string | undefined>;
  /** Replace the environment instead of extending the daemon's own. */
  cleanEnv?: boolean;
  cwd?: string;
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

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

/**
 * Run an external program with an argument array (never a shell string), a timeout and its
 * stderr captured into the error. Resolves only on exit code 0.
 */
export async function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await execa(file, args, {
    timeout: options.timeoutMs ?? 60_000,
    killSignal: 'SIGKILL',
    input: options.input,
    env: options.env,
    extendEnv: !options.cleanEnv,
    cwd: options.cwd,
    cancelSignal: options.signal,
    reject: false,
    stripFinalNewline: false,
    encoding: 'utf8',
  });
  if (result.timedOut) {
    throw new DeadlineExceededError(`${file} ${args.join(' ')}: timed out after ${options.timeoutMs ?? 60_000} ms${result.stderr ? `: ${String(result.stderr).trim()}` : ''}`);
  }
  if (result.failed || result.exitCode !== 0) {
    const detail = result.exitCode !== undefined ? `exit status ${result.exitCode}` : (result.signal ? `killed by ${result.signal}` : (result.originalMessage ?? 'failed to run'));
    throw new CommandFailedError(file, args, result.exitCode, String(result.stdout ?? ''), String(result.stderr ?? ''), detail);
  }
  return { stdout: String(result.stdout), stderr: String(result.stderr), exitCode: 0 };
}
