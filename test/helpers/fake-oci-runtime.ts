/**
 * An OCI runtime in memory, for unit tests of container and pod logic without root: containers
 * "run" until killed, a kill lands after a short, seeded delay (so concurrent calls interleave
 * differently on each seed), and exits are reported to the exit listener as conmon's would be.
 */
import { constants as osConstants } from 'node:os';
import { FailedPreconditionError, NotFoundError } from '../../lib/errors/index.js';
import type { ContainerRuntimes } from '../../lib/container/index.js';
import { seededRandom } from './random.js';
import type { Attachment, CheckpointSupport, ContainerCreateRequest, ExecProcess, ExecSyncRequest, ExecSyncResult, ExitStatus, HandlerPolicy, OciRuntime, OciSpec, RuntimeState } from '../../lib/oci/index.js';

interface FakeContainer {
  spec: OciSpec;
  pid: number;
  status: 'created' | 'running' | 'stopped';
  exit?: { code: number; at: bigint };
}

export class FakeOciRuntime implements OciRuntime {
  readonly containers = new Map<string, FakeContainer>();
  /** Every call, in order: `kill:ID:SIGNAL`, `delete:ID`, … */
  readonly calls: string[] = [];
  onExit: (id: string) => void = () => undefined;
  private nextPid = 1000;

  constructor(private readonly random: () => number = seededRandom(1)) {}

  private delay(): Promise<void> {
    return new Promise((r) => setTimeout(r, Math.floor(this.random() * 5)));
  }

  private container(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`runtime has no container ${id}`);
    return c;
  }

  /** Adds a container that is already running, as recovery finds one. */
  adopt(id: string, spec: OciSpec): void {
    this.containers.set(id, { spec, pid: this.nextPid++, status: 'running' });
  }

  async create(req: ContainerCreateRequest): Promise<number> {
    this.calls.push(`create:${req.id}`);
    await this.delay();
    const pid = this.nextPid++;
    this.containers.set(req.id, { spec: req.spec, pid, status: 'created' });
    return pid;
  }

  async start(id: string): Promise<void> {
    this.calls.push(`start:${id}`);
    await this.delay();
    this.container(id).status = 'running';
  }

  async kill(id: string, signal: string): Promise<void> {
    this.calls.push(`kill:${id}:${signal}`);
    await this.delay();
    const c = this.containers.get(id);
    if (!c || c.status !== 'running') return;
    const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`) as NodeJS.Signals;
    // The exit lands a moment later, as a real one does.
    setTimeout(() => this.exit(id, 128 + (osConstants.signals[name] ?? 9)), Math.floor(this.random() * 5));
  }

  /** The container's process ends with `code`, as if it exited by itself. */
  exit(id: string, code: number): void {
    const c = this.containers.get(id);
    if (!c || c.status === 'stopped') return;
    c.status = 'stopped';
    c.exit = { code, at: process.hrtime.bigint() };
    this.onExit(id);
  }

  async delete(id: string): Promise<void> {
    this.calls.push(`delete:${id}`);
    await this.delay();
    this.containers.delete(id);
  }

  async state(id: string): Promise<RuntimeState> {
    const c = this.container(id);
    return { status: c.status, pid: c.pid };
  }

  async update(id: string): Promise<void> {
    this.calls.push(`update:${id}`);
    this.container(id);
  }

  exitStatus(id: string): ExitStatus {
    const c = this.containers.get(id);
    if (!c) return { state: 'lost' };
    if (!c.exit) return { state: 'running' };
    return { state: 'exited', exitCode: c.exit.code, exitedAt: c.exit.at, oomKilled: false };
  }

  spec(id: string): OciSpec | undefined {
    return this.containers.get(id)?.spec;
  }

  async reopenLog(id: string): Promise<void> {
    this.container(id);
  }

  attach(): Promise<Attachment> {
    return Promise.reject(new Error('the fake runtime has no stdio to attach to'));
  }

  exec(): Promise<ExecProcess> {
    return Promise.reject(new Error('the fake runtime runs no processes'));
  }

  async execSync(id: string, req: ExecSyncRequest): Promise<ExecSyncResult> {
    this.container(id);
    return { exitCode: 0, stdout: Buffer.from(`${req.cmd.join(' ')}\n`), stderr: Buffer.alloc(0), timedOut: false };
  }

  /** It keeps no process state: checkpoints are refused as a node without CRIU refuses them. */
  async checkpointSupport(): Promise<CheckpointSupport> {
    return { usable: false, reason: 'the fake runtime cannot checkpoint' };
  }

  async pause(id: string): Promise<void> {
    this.calls.push(`pause:${id}`);
    this.container(id);
  }

  async resume(id: string): Promise<void> {
    this.calls.push(`resume:${id}`);
    this.container(id);
  }

  checkpoint(): Promise<void> {
    return Promise.reject(new FailedPreconditionError('the fake runtime cannot checkpoint'));
  }

  restore(): Promise<number> {
    return Promise.reject(new FailedPreconditionError('the fake runtime cannot checkpoint'));
  }
}

/** One fake runtime behind every handler name. */
export class FakeRuntimes implements ContainerRuntimes {
  readonly idmapHelper = undefined;
  constructor(readonly fake: FakeOciRuntime, private readonly handlerPolicy: Partial<HandlerPolicy> = {}) {}

  runtime(): OciRuntime {
    return this.fake;
  }

  policy(): HandlerPolicy {
    return { recursiveReadOnlyMounts: false, allowedAnnotations: [], privilegedWithoutHostDevices: false, ...this.handlerPolicy };
  }

  prepare(): void {}

  watchExits(listener: (id: string) => void): void {
    this.fake.onExit = listener;
  }
}
