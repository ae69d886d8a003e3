import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { InternalError, messageOf } from '../errors/index.js';
import { killTree } from './process-tree.js';
import type { OciProcess, OciSpec } from './types.js';

/** How an exec ended: its exit code, or why it could not run or report one. */
export type ExecOutcome = { exitCode: number } | { error: string };

export interface TerminalSize {
  width: number;
  height: number;
}

/** What exec needs to know about a container. */
export interface ExecTarget {
  id: string;
  bundle: string;
  runtimePath: string;
  runtimeRoot: string;
}

export interface ExecSessionOptions {
  cmd: string[];
  tty: boolean;
  /** Scratch space; each exec gets its own directory below it, removed when it ends. */
  execDir: string;
}

/** The process spec of an exec: the container's own user, environment, cwd and limits, with new args. */
export function execProcessSpec(containerProcess: OciProcess, cmd: string[], tty: boolean): OciProcess {
  const env = [...containerProcess.env];
  if (tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  // With a tty, runc allocates the container's console itself and copies it to its own stdio.
  return { ...containerProcess, args: cmd, env, terminal: tty };
}

/** Single-quotes an argument for /bin/sh, which `script` needs to be handed one command line. */
function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

const START_FAILURE_TAIL = 4096;

/**
 * The PID whose stdin is the terminal `script` made: its child, once that has forked and put
 * the terminal's slave on its fd 0. Between the fork and that dup2 the child's fd 0 is still
 * `script`'s own stdin (our pipe), and a size set there is lost: runc never sees it.
 */
export async function terminalHolder(scriptPid: number, finished: () => boolean): Promise<number | undefined> {
  for (let i = 0; i < 200 && !finished(); i++) {
    let first: string | undefined;
    try {
      first = readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').trim().split(' ')[0];
    } catch {
      return undefined; // script is gone
    }
    if (first && isTerminal(`/proc/${first}/fd/0`)) return Number(first);
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}

function isTerminal(fdLink: string): boolean {
  try {
    return readlinkSync(fdLink).startsWith('/dev/pts/');
  } catch {
    return false; // the child is gone; the caller asks script again
  }
}

/**
 * One `runc exec` of a command in a running container. Without a tty its stdio are pipes; with
 * one, runc allocates the container's console and copies it to its own stdio, which is a
 * pseudo-terminal that util-linux `script` gives it. A resize is applied to that outer terminal
 * (`stty -F`); the kernel's SIGWINCH makes runc copy the size to the container's console.
 * Nothing native is needed: Node cannot receive a console fd over a socket (SCM_RIGHTS) itself.
 */
export class ExecProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Null with a tty: the terminal merges both outputs. */
  readonly stderr: Readable | null;
  readonly exited: Promise<ExecOutcome>;
  private readonly child: ChildProcess;
  private readonly dir: string;
  private readonly pidFile: string;
  private pendingSize: TerminalSize | undefined;
  private resizing = false;
  private finished = false;
  private outputTail = '';

  constructor(target: ExecTarget, opts: ExecSessionOptions) {
    let spec: OciSpec;
    try {
      spec = JSON.parse(readFileSync(join(target.bundle, 'config.json'), 'utf8')) as OciSpec;
    } catch (err) {
      throw new InternalError(`reading the OCI spec of container ${target.id}: ${messageOf(err)}`);
    }
    this.dir = mkdtempSync(join(opts.execDir, 'e'));
    const processFile = join(this.dir, 'process.json');
    this.pidFile = join(this.dir, 'pid');
    writeFileSync(processFile, JSON.stringify(execProcessSpec(spec.process, opts.cmd, opts.tty)));
    const runcArgs = [`--root=${target.runtimeRoot}`, 'exec', '--process', processFile, '--pid-file', this.pidFile, target.id];
    if (opts.tty) {
      const line = ['exec', target.runtimePath, ...runcArgs].map(shellQuote).join(' ');
      this.child = spawn('script', ['--quiet', '--return', '--command', line, '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
      this.stderr = null;
    } else {
      this.child = spawn(target.runtimePath, runcArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
      this.stderr = this.child.stderr!;
      this.stderr.on('data', (d: Buffer) => this.remember(d));
    }
    this.stdin = this.child.stdin!;
    this.stdout = this.child.stdout!;
    this.stdin.on('error', () => undefined); // the process may exit before reading all its input
    if (opts.tty) this.stdout.on('data', (d: Buffer) => this.remember(d));
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => resolve({ error: `starting ${target.runtimePath}: ${messageOf(err)}` }));
      this.child.once('close', (code, signal) => {
        this.finished = true;
        const started = existsSync(this.pidFile);
        rmSync(this.dir, { recursive: true, force: true });
        if (code === null) return resolve({ exitCode: 128 + (signal ? osConstants.signals[signal] : 9) });
        resolve({ exitCode: started ? code : this.startFailureCode(code) });
      });
    });
  }

  private remember(chunk: Buffer): void {
    this.outputTail = (this.outputTail + chunk.toString('utf8')).slice(-START_FAILURE_TAIL);
  }

  /** runc could not start the command: answer as a shell would (127 not found, 126 not runnable). */
  private startFailureCode(code: number): number {
    if (code === 0) return 0;
    if (/executable file not found|no such file or directory/i.test(this.outputTail)) return 127;
    if (/permission denied|not a directory|exec format error/i.test(this.outputTail)) return 126;
    return code;
  }

  /** The latest size wins; earlier ones still queued are skipped. */
  resize(size: TerminalSize): void {
    this.pendingSize = size;
    if (!this.resizing) void this.applySizes();
  }

  private async applySizes(): Promise<void> {
    this.resizing = true;
    try {
      const holder = this.child.pid === undefined ? undefined : await terminalHolder(this.child.pid, () => this.finished);
      while (this.pendingSize && holder !== undefined && !this.finished) {
        const { width, height } = this.pendingSize;
        this.pendingSize = undefined;
        await new Promise<void>((resolve) => {
          execFile('stty', ['-F', `/proc/${holder}/fd/0`, 'rows', String(height), 'cols', String(width)], { timeout: 5000 }, () => resolve());
        });
      }
    } finally {
      this.resizing = false;
    }
  }

  /** Ends the exec'd process and everything it started, then runc (the client went away). */
  kill(): void {
    if (this.finished) return;
    try {
      const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
      if (pid > 0) killTree(pid);
    } catch {
      // not started yet: killing runc below is enough
    }
    if (this.child.pid !== undefined) killTree(this.child.pid);
  }
}
