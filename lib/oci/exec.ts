import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { messageOf } from '../errors/index.js';
import { killTree } from './process-tree.js';
import type { OciProcess } from './types.js';

/** How an exec ended: its exit code, or why it could not run or report one. */
export type ExecOutcome = { exitCode: number } | { error: string };

export interface TerminalSize {
  width: number;
  height: number;
}

/** Everything one `runc exec` needs; the caller made `dir`, which the exec removes when it ends. */
export interface ExecLaunch {
  containerId: string;
  runtimePath: string;
  runtimeRoot: string;
  /** The process to run: the container's own, with the exec's args, env and terminal. */
  process: OciProcess;
  dir: string;
  /** runcri's pseudo-terminal helper (native/pty-exec), needed when `process.terminal`. */
  ptyHelper?: string;
  /** Without input the process reads end of file at once (no pipe is made for it). */
  noStdin?: boolean;
}

/** The process spec of an exec: the container's own user, environment, cwd and limits, with new args. */
export function execProcessSpec(containerProcess: OciProcess, cmd: string[], tty: boolean): OciProcess {
  const env = [...containerProcess.env];
  if (tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  // With a tty, runc allocates the container's console itself and copies it to its own stdio.
  return { ...containerProcess, args: cmd, env, terminal: tty };
}

/** Writes the exec's process spec into its directory; the runtime's arguments and where it writes the PID. */
export function prepareExec(launch: ExecLaunch): { runcArgs: string[]; pidFile: string } {
  const processFile = join(launch.dir, 'process.json');
  const pidFile = join(launch.dir, 'pid');
  writeFileSync(processFile, JSON.stringify(launch.process));
  return { runcArgs: [`--root=${launch.runtimeRoot}`, 'exec', '--process', processFile, '--pid-file', pidFile, launch.containerId], pidFile };
}

/** runc could not start the command (it wrote no PID): answer as a shell would (127 not found, 126 cannot run). */
export function startFailureCode(code: number, output: string): number {
  if (code === 0) return 0;
  return /executable file not found|no such file or directory|not found/i.test(output) ? 127 : 126;
}

/** After the runtime exits, output pipes a left-behind process still holds get this long to go quiet. */
const OUTPUT_GRACE_MS = 200;
/** ...and a left-behind process that keeps writing is cut off this long after the exit. */
const OUTPUT_LIMIT_MS = 2_000;
const START_FAILURE_TAIL = 4096;

/**
 * One `runc exec` of a process in a running container, the one way runcri runs a command in a
 * container (ExecSync and streaming sessions alike). Without a tty its stdio are pipes; with
 * one, runc allocates the container's console and copies it to its own stdio, which is a
 * pseudo-terminal from runcri's helper (native/pty-exec). A resize goes to that helper, which
 * sets the outer terminal's size; the kernel's SIGWINCH makes runc copy it to the console.
 */
export class ExecProcess {
  /** Null when launched with `noStdin`. */
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  /** Null with a tty: the terminal merges both outputs. */
  readonly stderr: Readable | null;
  /** Resolves once the runtime has exited and the output it left in the pipes has been read. */
  readonly exited: Promise<ExecOutcome>;
  private readonly child: ChildProcess;
  private readonly pidFile: string;
  private readonly resizes: Writable | null;
  private finished = false;
  private outputTail = '';

  constructor(private readonly launch: ExecLaunch) {
    const { runcArgs, pidFile } = prepareExec(launch);
    this.pidFile = pidFile;
    if (launch.process.terminal) {
      this.child = spawn(launch.ptyHelper!, [launch.runtimePath, ...runcArgs], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
      this.resizes = this.child.stdio[3] as Writable;
      this.resizes.on('error', () => undefined);
      this.stderr = null;
      // The helper's own complaints, if any: the terminal carries runc's and the process's.
      this.child.stderr!.on('data', (d: Buffer) => this.remember(d));
    } else {
      this.child = spawn(launch.runtimePath, runcArgs, { stdio: [launch.noStdin ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      this.resizes = null;
      this.stderr = this.child.stderr!;
    }
    this.stdin = this.child.stdin;
    this.stdout = this.child.stdout!;
    this.stdin?.on('error', () => undefined); // the process may exit before reading all its input
    // A failure to start is reported on stderr, or with a tty on the terminal.
    (this.stderr ?? this.stdout).on('data', (d: Buffer) => this.remember(d));
    this.exited = this.waitForEnd();
  }

  private async waitForEnd(): Promise<ExecOutcome> {
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | { error: string }>((resolve) => {
      this.child.once('error', (err) => resolve({ error: `starting ${this.child.spawnfile}: ${messageOf(err)}` }));
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    await this.outputRead();
    this.finished = true;
    const started = existsSync(this.pidFile);
    await rm(this.launch.dir, { recursive: true, force: true });
    if ('error' in ended) return ended;
    if (ended.code === null) return { exitCode: 128 + (ended.signal ? (osConstants.signals[ended.signal] ?? 9) : 9) };
    return { exitCode: started ? ended.code : startFailureCode(ended.code, this.outputTail) };
  }

  /**
   * Waits until the output written before the runtime exited has been read, then lets go of
   * the pipes. Normally they end with the runtime. A process the command left behind may
   * still hold them; then they get a grace period to go quiet. A timer alone would not do:
   * on a busy event loop it can fire in the same turn that has yet to read what the pipes
   * already hold, so it counts as quiet only after a whole turn (which polls the pipes) has
   * brought nothing and nothing waits in the streams' buffers.
   */
  private async outputRead(): Promise<void> {
    const pipes = [this.stdout, ...(this.stderr ? [this.stderr] : [])];
    const ended = Promise.all(pipes.map(endOf)).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), OUTPUT_GRACE_MS); });
    const endedFirst = await Promise.race([ended, grace]);
    clearTimeout(timer);
    if (!endedFirst) {
      const state = { settled: false };
      await Promise.race([ended, this.untilQuiet(pipes, state)]);
      state.settled = true;
    }
    for (const p of pipes) p.destroy();
    this.resizes?.destroy();
  }

  /** Resolves once a whole turn of the event loop brought the pipes nothing (or the cut-off passed), with no reader behind. */
  private async untilQuiet(pipes: Readable[], state: { settled: boolean }): Promise<void> {
    const cutOff = Date.now() + OUTPUT_LIMIT_MS - OUTPUT_GRACE_MS;
    const received = () => pipes.reduce((n, p) => n + ((p as Readable & { bytesRead?: number }).bytesRead ?? 0), 0);
    while (!state.settled) {
      const before = received();
      await nextTurn();
      // A reader that is behind (paused, or bytes still buffered): nothing is lost by waiting for it.
      if (pipes.some((p) => p.readableLength > 0 || p.readableFlowing === false)) {
        await sleep(10);
        continue;
      }
      if (received() === before || Date.now() > cutOff) return;
    }
  }

  private remember(chunk: Buffer): void {
    this.outputTail = (this.outputTail + chunk.toString('utf8')).slice(-START_FAILURE_TAIL);
  }


  /** Resolves once the process has started (the runtime wrote its PID) or will not. */
  started(): Promise<void> {
    if (this.finished || existsSync(this.pidFile)) return Promise.resolve();
    return new Promise((resolve) => {
      let watcher: ReturnType<typeof watch> | undefined;
      const done = () => {
        watcher?.close();
        resolve();
      };
      try {
        watcher = watch(this.launch.dir, (_event, name) => {
          if (name === 'pid') done();
        });
        watcher.on('error', done);
      } catch {
        // the exec already ended and took its directory along
      }
      void this.exited.then(done);
      if (existsSync(this.pidFile)) done();
    });
  }

  /** The latest size wins; the helper applies each as it reads it. */
  resize(size: TerminalSize): void {
    if (this.finished || !this.resizes) return;
    this.resizes.write(`${size.height} ${size.width}\n`);
  }

  /**
   * Ends the exec'd process and everything it started. runc then reports its end and the
   * output so far; it is killed itself after `runtimeGraceMs` (at once by default).
   */
  kill(runtimeGraceMs = 0): void {
    if (this.finished) return;
    try {
      const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
      if (pid > 0) killTree(pid);
    } catch {
      // not started yet: killing runc is enough
    }
    const killRuntime = () => {
      if (!this.finished && this.child.pid !== undefined) killTree(this.child.pid);
    };
    if (runtimeGraceMs <= 0) killRuntime();
    else setTimeout(killRuntime, runtimeGraceMs).unref();
  }
}

function endOf(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded || stream.destroyed) resolve();
    else stream.once('close', () => resolve());
  });
}
