import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, FailedPreconditionError, InternalError, NotFoundError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { runCommand, spawnHelper, CommandFailedError } from '../process/index.js';
import type { Semaphore } from '../util/semaphore.js';
import { CTL_REOPEN_LOGS, ConmonAttachment, type Attachment } from './attach.js';
import type { ConmonFiles } from './conmon-files.js';
import { ExecProcess, execProcessSpec } from './exec.js';
import { collectExec, execSyncThroughHelper } from './exec-sync.js';
import { checkpointArgs, restoreConmonArgs, restoreLogTail, type CheckpointRequest } from './checkpoint.js';
import { checkpointSupportCache, type CheckpointSupport, type CheckpointSupportCache } from './criu.js';
import type { ContainerRestoreRequest, PendingCreateRequest, ExecRequest, ExecSyncRequest, ExecSyncResult, ExitStatus, OciRuntime, RuntimeState } from './runtime.js';
import { runtimeSignal } from './signals.js';
import { startMonitor } from './conmon-launch.js';
import type { OciProcess, OciResources, OciSpec } from './types.js';

export interface ConmonRuntimeOptions {
  /** The OCI runtime binary (runc, crun). */
  runtimePath: string;
  /** The runtime's state root (`--root`). */
  runtimeRoot: string;
  conmonPath: string;
  files: ConmonFiles;
  /** Scratch space: one directory per exec while it runs. */
  execDir: string;
  /** Bounds runc execs of every handler together. */
  execSlots: Semaphore;
  /** runcri's pseudo-terminal helper; without it an exec with a tty is refused. */
  ptyHelper: string | undefined;
  log: Logger;
  /** Where checkpoint support is found once per runtime binary (default: the daemon's one cache). */
  checkpointSupport?: CheckpointSupportCache;
  /** The CRIU binary runc is told to use; empty: runc's own default (`criu` on PATH). */
  criuPath?: string;
}

const RUNTIME_TIMEOUT_MS = 60_000;
/** A dump writes every page of the container's memory: it gets longer than other runtime calls. */
const CHECKPOINT_TIMEOUT_MS = 10 * 60_000;
/** How long ReopenContainerLog waits for conmon to create the new log file. */
const REOPEN_WAIT_MS = 5_000;

/**
 * runc (or crun) driven through conmon. conmon runs `runc create`, then stays as the
 * container's monitor (stdio, CRI log, exit file, OOM), detached from the daemon, so
 * containers outlive it. Everything else, exec included, is a direct call of the runtime.
 */
export class ConmonRuntime implements OciRuntime {
  /** Process specs of live containers, read once: every exec starts from one. */
  private readonly processes = new Map<string, OciProcess>();

  constructor(private readonly opts: ConmonRuntimeOptions) {
    mkdirSync(opts.runtimeRoot, { recursive: true, mode: 0o700 });
  }

  private runtime(args: string[], input?: string): Promise<{ stdout: string }> {
    return runCommand(this.opts.runtimePath, [`--root=${this.opts.runtimeRoot}`, ...args], { timeoutMs: RUNTIME_TIMEOUT_MS, input });
  }

  create(req: PendingCreateRequest): Promise<number> {
    return this.launch(req, []);
  }

  /**
   * conmon runs `runc restore --detach` instead of `runc create`: the container's processes
   * come back from their images, running, under a new monitor like any other container.
   */
  async restore(req: ContainerRestoreRequest): Promise<number> {
    const support = await this.checkpointSupport();
    if (!support.usable) throw new FailedPreconditionError(support.reason);
    try {
      return await this.launch(req, [...this.criuArgs().flatMap((a) => ['--runtime-arg', a]), ...restoreConmonArgs(req.imagePath)], 'restoring');
    } catch (err) {
      const tail = restoreLogTail(this.opts.files.bundle(req.id));
      if (!tail) throw err;
      throw new InternalError(`${messageOf(err)}; CRIU's restore.log ends: ${tail}`, { cause: err });
    }
  }

  /**
   * Starts conmon held at its start pipe, writes the bundle once the spec is there, then lets
   * conmon run the runtime; resolves with the container's init PID. A spec that fails kills
   * the held conmon (and removes the log file it opened, if that is all it made).
   */
  private async launch(req: PendingCreateRequest, extraArgs: string[], verb = 'creating'): Promise<number> {
    const { files } = this.opts;
    const bundle = files.bundle(req.id);
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    mkdirSync(files.persistDir(req.id), { recursive: true, mode: 0o700 });
    const args = [
      '--api-version', '1', '-c', req.id, '-u', req.id, '-n', req.name,
      '-r', this.opts.runtimePath, '-b', bundle,
      '-p', files.pidFile(req.id), '-P', files.conmonPidFile(req.id),
      '-l', `k8s-file:${req.logPath}`, '--exit-dir', files.exitDir,
      '--socket-dir-path', files.socketDir, '--persist-dir', files.persistDir(req.id),
      '--runtime-arg', `--root=${this.opts.runtimeRoot}`, '--log-level', 'error',
      ...extraArgs,
    ];
    if (req.terminal) args.push('-t');
    if (req.stdin) args.push('-i');
    // conmon closes stdin when an attach client leaves unless told otherwise.
    if (req.stdin && !req.stdinOnce) args.push('--leave-stdin-open');
    const hadLog = existsSync(req.logPath);
    const monitor = startMonitor(this.opts.conmonPath, args, bundle);
    let spec: OciSpec;
    try {
      spec = await req.spec;
      // A held conmon whose starter is gone (the spawn helper died) saw its start pipe close and
      // goes on by itself: without a config.json its runtime's create fails, so it gets none.
      if (monitor.ended()) throw new InternalError(`${verb} container ${req.id} failed: conmon's starter ended before it was let go`);
      writeFileSync(files.config(req.id), JSON.stringify(spec));
    } catch (err) {
      await monitor.abandon();
      if (!hadLog) removeEmptyFile(req.logPath);
      throw err;
    }
    this.processes.set(req.id, spec.process);
    monitor.release();
    const { message: msg, code, error } = await monitor.report();
    if (code !== 0 && msg && msg.data > 0) this.opts.log.warn({ container: req.id, code }, `conmon exited non-zero after ${verb} the container`);
    if (!msg || msg.data <= 0) {
      throw new InternalError(`${verb} container ${req.id} failed: ${msg?.message ?? error ?? 'conmon exited without reporting a PID'}`);
    }
    return msg.data;
  }

  async start(id: string): Promise<void> {
    await this.runtime(['start', id]);
  }

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

  async delete(id: string): Promise<void> {
    try {
      // --force kills a container still running first.
      await this.runtime(['delete', '--force', id]);
    } catch (err) {
      if (!(err instanceof CommandFailedError && /does not exist/i.test(err.stderr))) throw err;
    }
    this.processes.delete(id);
    await this.opts.files.remove(id);
  }

  async update(id: string, resources: OciResources): Promise<void> {
    await this.runtime(['update', '--resources', '-', id], JSON.stringify(resources));
  }

  exitStatus(id: string, deep = false): ExitStatus {
    return this.opts.files.exitStatus(id, deep);
  }

  spec(id: string): OciSpec | undefined {
    try {
      return JSON.parse(readFileSync(this.opts.files.config(id), 'utf8')) as OciSpec;
    } catch {
      return undefined;
    }
  }

  async reopenLog(id: string, logPath: string): Promise<void> {
    let fd: number;
    try {
      fd = openSync(this.opts.files.controlFifo(id), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      throw new InternalError(`the container's monitor is not running: ${messageOf(err)}`);
    }
    try {
      writeSync(fd, `${CTL_REOPEN_LOGS} 0 0\n`);
    } finally {
      closeSync(fd);
    }
    const deadline = Date.now() + REOPEN_WAIT_MS;
    while (!existsSync(logPath)) {
      if (Date.now() > deadline) throw new InternalError(`the container's monitor did not reopen ${logPath} within ${REOPEN_WAIT_MS} ms`);
      await sleep(5);
    }
  }

  checkpointSupport(): Promise<CheckpointSupport> {
    return (this.opts.checkpointSupport ?? checkpointSupportCache).of(this.opts.runtimePath, this.opts.criuPath || 'criu');
  }

  /** runc's global option naming the configured CRIU, if one is. */
  private criuArgs(): string[] {
    return this.opts.criuPath ? [`--criu=${this.opts.criuPath}`] : [];
  }

  async pause(id: string): Promise<void> {
    await this.runtime(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.runtime(['resume', id]);
  }

  async checkpoint(id: string, req: CheckpointRequest): Promise<void> {
    const support = await this.checkpointSupport();
    if (!support.usable) throw new FailedPreconditionError(support.reason);
    const args = [`--root=${this.opts.runtimeRoot}`, ...this.criuArgs(), ...checkpointArgs(id, req)];
    await runCommand(this.opts.runtimePath, args, { timeoutMs: req.timeoutMs || CHECKPOINT_TIMEOUT_MS });
  }

  attach(id: string): Promise<Attachment> {
    const { files } = this.opts;
    return ConmonAttachment.connect({ id, attachSocket: files.attachSocket(id), controlFifo: files.controlFifo(id) });
  }

  private processOf(id: string): OciProcess {
    let p = this.processes.get(id);
    if (!p) {
      const spec = this.spec(id);
      if (!spec) throw new NotFoundError(`runtime has no spec of container ${id}`);
      p = spec.process;
      this.processes.set(id, p);
    }
    return p;
  }

  /**
   * `runc exec` directly, not through conmon: conmon 2.1.6's exec sessions lose short-lived
   * processes under concurrency (it exits 0 having reported nothing). Execs of all handlers
   * share one bound: each costs a fork and some 20 ms of CPU, and a burst left unbounded
   * starves the daemon's event loop and every other RPC with it.
   */
  async exec(id: string, req: ExecRequest): Promise<ExecProcess> {
    if (req.tty && !this.opts.ptyHelper) throw new FailedPreconditionError('exec with a terminal needs runcri\'s helper native/pty-exec (built by make)');
    const process = execProcessSpec(this.processOf(id), req.cmd, req.tty);
    const { release, dir } = await this.execTurn(id, req.signal);
    let proc: ExecProcess;
    try {
      proc = new ExecProcess({
        containerId: id, runtimePath: this.opts.runtimePath, runtimeRoot: this.opts.runtimeRoot, process, dir,
        ptyHelper: this.opts.ptyHelper, noStdin: req.noStdin === true,
      });
    } catch (err) {
      release();
      throw err;
    }
    void (req.holdSlot === 'until-started' ? proc.started() : proc.exited).then(release, release);
    return proc;
  }

  /** Waits for a turn among the execs and makes the exec's scratch directory. */
  private async execTurn(id: string, signal: AbortSignal | undefined): Promise<{ release: () => void; dir: string }> {
    let release: () => void;
    try {
      release = await this.opts.execSlots.acquire(signal);
    } catch {
      throw new CancelledError(`exec in container ${id} was cancelled while waiting its turn`);
    }
    try {
      mkdirSync(this.opts.execDir, { recursive: true, mode: 0o700 });
      return { release, dir: mkdtempSync(join(this.opts.execDir, 'x')) };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Through the spawn helper where there is one: the daemon then does not fork for it. */
  async execSync(id: string, req: ExecSyncRequest): Promise<ExecSyncResult> {
    const helper = spawnHelper();
    if (!helper) {
      const proc = await this.exec(id, { cmd: req.cmd, tty: false, noStdin: true, holdSlot: 'until-exit', ...(req.signal ? { signal: req.signal } : {}) });
      return collectExec(proc, req);
    }
    const process = execProcessSpec(this.processOf(id), req.cmd, false);
    const { release, dir } = await this.execTurn(id, req.signal);
    try {
      return await execSyncThroughHelper(helper, { containerId: id, runtimePath: this.opts.runtimePath, runtimeRoot: this.opts.runtimeRoot, process, dir, noStdin: true }, req);
    } finally {
      release();
    }
  }
}

/** A file conmon opened but nothing wrote to: removed; anything else is kept. */
function removeEmptyFile(path: string): void {
  try {
    if (statSync(path).size === 0) unlinkSync(path);
  } catch {
    // not there: nothing to remove
  }
}
