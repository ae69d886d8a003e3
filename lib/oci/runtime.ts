import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync, constants as fsConstants, writeSync } from 'node:fs';
import { availableParallelism, constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { InternalError, NotFoundError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { runCommand, CommandFailedError } from '../process/index.js';
import { killTree } from './process-tree.js';
import { syncMessages, type SyncMessage } from './sync-pipe.js';
import type { OciProcess, OciResources } from './types.js';
import { runtimeSignal } from './signals.js';

export interface OciRuntimeOptions {
  /** The OCI runtime binary (runc, crun). */
  runtimePath: string;
  /** The runtime's state root (`--root`). */
  runtimeRoot: string;
  conmonPath: string;
  /** Where conmon writes one exit file per container, named by container ID. */
  exitDir: string;
  /** Where conmon puts attach sockets. */
  socketDir: string;
  /** Scratch space for exec sessions. */
  execDir: string;
  log: Logger;
}

export interface CreateOptions {
  id: string;
  name: string;
  bundle: string;
  logPath: string;
  /** Survives daemon restarts: conmon writes `exit` and `oom` here too. */
  persistDir: string;
  terminal: boolean;
  stdin: boolean;
  /** Close the container's stdin when the first attached client detaches (CRI stdin_once). */
  stdinOnce: boolean;
}

export interface RuntimeState {
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
}

export interface ExecOptions {
  id: string;
  bundle: string;
  process: OciProcess;
  timeoutMs: number;
  /** Bytes kept of each of stdout and stderr. */
  outputCap: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

const RUNTIME_TIMEOUT_MS = 60_000;
/** conmon's control FIFO message type asking it to reopen the container log. */
const REOPEN_LOGS = 2;
/** How long ReopenContainerLog waits for conmon to create the new log file. */
const REOPEN_WAIT_MS = 5_000;

/**
 * runc driven through conmon. conmon runs `runc create`, then stays as the container's
 * monitor (stdio, CRI log, exit file, OOM), detached from the daemon, so containers outlive
 * it. Everything else, ExecSync included, is a direct runc call.
 */
export class OciRuntime {
  /**
   * runc execs running at once. Each costs a fork and some 20 ms of CPU; a burst of probes
   * left unbounded starves the daemon's own event loop and every other RPC with it.
   */
  private readonly execSlots = new Semaphore(Math.max(4, availableParallelism() * 4));

  constructor(private readonly opts: OciRuntimeOptions) {
    for (const dir of [opts.exitDir, opts.socketDir, opts.execDir, opts.runtimeRoot]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private runtime(args: string[], input?: string): Promise<{ stdout: string }> {
    return runCommand(this.opts.runtimePath, [`--root=${this.opts.runtimeRoot}`, ...args], { timeoutMs: RUNTIME_TIMEOUT_MS, input });
  }

  exitFile(id: string): string {
    return join(this.opts.exitDir, id);
  }

  /** Creates the container through a new conmon; resolves with the container's init PID. */
  async create(c: CreateOptions): Promise<number> {
    const args = [
      '--api-version', '1', '-c', c.id, '-u', c.id, '-n', c.name,
      '-r', this.opts.runtimePath, '-b', c.bundle,
      '-p', join(c.bundle, 'pidfile'), '-P', join(c.bundle, 'conmon.pid'),
      '-l', `k8s-file:${c.logPath}`, '--exit-dir', this.opts.exitDir,
      '--socket-dir-path', this.opts.socketDir, '--persist-dir', c.persistDir,
      '--runtime-arg', `--root=${this.opts.runtimeRoot}`, '--log-level', 'error',
    ];
    if (c.terminal) args.push('-t');
    if (c.stdin) args.push('-i');
    // conmon closes stdin when an attach client leaves unless told otherwise.
    if (c.stdin && !c.stdinOnce) args.push('--leave-stdin-open');
    const { messages, exited } = this.spawnConmon(args, c.bundle);
    const first = await messages.next();
    await messages.return(undefined);
    const code = await exited;
    const msg: SyncMessage | undefined = first.done ? undefined : first.value;
    if (code !== 0 && msg && msg.data > 0) this.opts.log.warn({ container: c.id, code }, 'conmon exited non-zero after creating the container');
    if (!msg || msg.data <= 0) {
      throw new InternalError(`creating container ${c.id} failed: ${msg?.message ?? 'conmon exited without reporting a PID'}`);
    }
    return msg.data;
  }

  /**
   * Starts a conmon and hands back its sync pipe. conmon daemonizes and keeps whatever it
   * inherited for as long as the container lives, so it gets no pipe the daemon could close
   * under it except the sync pipe, which it stops writing to once it has reported.
   */
  /** `cwd` is the bundle: conmon writes some files (its `oom` marker) relative to it. */
  private spawnConmon(args: string[], cwd: string): { messages: AsyncGenerator<SyncMessage>; exited: Promise<number | null> } {
    const child = spawn(this.opts.conmonPath, args, {
      cwd,
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3' },
      detached: true,
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(-1));
      // 'exit', not 'close': the daemonized conmon keeps the sync pipe open for as long as it lives.
      child.once('exit', (code) => resolve(code));
    });
    return { messages: syncMessages(child.stdio[3] as Readable), exited };
  }

  start(id: string): Promise<unknown> {
    return this.runtime(['start', id]);
  }

  /** Sends a signal to the container's init; a container that is already gone is not an error. */
  async kill(id: string, signal: string): Promise<void> {
    try {
      await this.runtime(['kill', id, runtimeSignal(signal)]);
    } catch (err) {
      if (err instanceof CommandFailedError && /not running|does not exist|process already finished|no such process/i.test(err.stderr)) return;
      throw err;
    }
  }

  async state(id: string): Promise<RuntimeState> {
    try {
      const { stdout } = await this.runtime(['state', id]);
      return JSON.parse(stdout) as RuntimeState;
    } catch (err) {
      if (err instanceof CommandFailedError && /does not exist/i.test(err.stderr)) throw new NotFoundError(`runtime has no container ${id}`);
      throw err;
    }
  }

  /** Deletes the runtime's record (and cgroup) of a container; one it never knew is fine. */
  async delete(id: string): Promise<void> {
    try {
      await this.runtime(['delete', '--force', id]);
    } catch (err) {
      if (err instanceof CommandFailedError && /does not exist/i.test(err.stderr)) return;
      throw err;
    }
  }

  async update(id: string, resources: OciResources): Promise<void> {
    await this.runtime(['update', '--resources', '-', id], JSON.stringify(resources));
  }

  /**
   * Asks the container's conmon to reopen its log file (after kubelet renamed it) and waits
   * until the file is there again: kubelet reads the new file as soon as the call returns.
   */
  async reopenLog(bundle: string, logPath: string): Promise<void> {
    let fd: number;
    try {
      fd = openSync(join(bundle, 'ctl'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      throw new InternalError(`the container's monitor is not running: ${messageOf(err)}`);
    }
    try {
      writeSync(fd, `${REOPEN_LOGS} 0 0\n`);
    } finally {
      closeSync(fd);
    }
    const deadline = Date.now() + REOPEN_WAIT_MS;
    while (!existsSync(logPath)) {
      if (Date.now() > deadline) throw new InternalError(`the container's monitor did not reopen ${logPath} within ${REOPEN_WAIT_MS} ms`);
      await sleep(5);
    }
  }

  /**
   * Runs a process in a running container and waits for it: `runc exec` directly, with the
   * output on pipes. (conmon 2.1.6's exec sessions lose short-lived processes under
   * concurrency: it exits 0 having reported nothing.) A timeout or a cancelled call kills the
   * whole process tree and still answers, with exit code 137 and the output captured so far.
   */
  async execSync(o: ExecOptions): Promise<ExecResult> {
    const release = await this.execSlots.acquire();
    try {
      return await this.execNow(o);
    } finally {
      release();
    }
  }

  private async execNow(o: ExecOptions): Promise<ExecResult> {
    const dir = mkdtempSync(join(this.opts.execDir, 'x'));
    const specPath = join(dir, 'process.json');
    const pidFile = join(dir, 'pid');
    writeFileSync(specPath, JSON.stringify(o.process));
    try {
      const child = spawn(this.opts.runtimePath, [`--root=${this.opts.runtimeRoot}`, 'exec', '--process', specPath, '--pid-file', pidFile, o.id], { stdio: ['ignore', 'pipe', 'pipe'] });
      const stdout = new CappedBuffer(o.outputCap);
      const stderr = new CappedBuffer(o.outputCap);
      child.stdout!.on('data', (d: Buffer) => stdout.push(d));
      child.stderr!.on('data', (d: Buffer) => stderr.push(d));
      let timedOut = false;
      let forceTimer: NodeJS.Timeout | undefined;
      const stop = () => {
        timedOut = true;
        const pid = Number(readIfExists(pidFile) ?? '0');
        if (pid > 0) killTree(pid);
        // runc itself normally follows its child within milliseconds; never wait on it forever.
        forceTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
      };
      const timer = o.timeoutMs > 0 ? setTimeout(stop, o.timeoutMs) : undefined;
      o.signal?.addEventListener('abort', stop, { once: true });
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('error', () => resolve({ code: 255, signal: null }));
        child.once('exit', (c, sig) => resolve({ code: c, signal: sig }));
      }).finally(() => {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', stop);
      });
      // A background process of the exec may still hold the pipes: give them a moment, no more.
      await Promise.race([Promise.all([ended(child.stdout!), ended(child.stderr!)]), new Promise((r) => setTimeout(r, 200))]);
      child.stdout!.destroy();
      child.stderr!.destroy();
      clearTimeout(forceTimer);
      let exitCode = code ?? 128 + signalNumber(signal);
      if (!existsSync(pidFile) && exitCode !== 0 && !timedOut) {
        // runc never started the process (no such binary, not executable): say so the shell's way.
        exitCode = /no such file|not found/i.test(stderr.text()) ? 127 : 126;
      }
      if (timedOut && exitCode === 0) exitCode = 137;
      return { exitCode, stdout: stdout.value(), stderr: stderr.value(), timedOut };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

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
  text(): string {
    return this.value().toString();
  }
}

function ended(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded || stream.destroyed) resolve();
    else stream.once('close', () => resolve());
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (osConstants.signals[signal] ?? 9) : 0;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A counting semaphore: `acquire` resolves with the function that gives the slot back. */
class Semaphore {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
