/**
 * An OCI runtime in memory, for unit tests of container and pod logic without root: containers
 * "run" until killed, a kill lands after a short, seeded delay (so concurrent calls interleave
 * differently on each seed), and exits are reported to the exit listener as conmon's would be.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError, NotFoundError } from '../../lib/errors/index.js';
import type { ContainerRuntimes } from '../../lib/container/index.js';
import { seededRandom } from './random.js';
import type { Attachment, CheckpointRequest, CheckpointSupport, ContainerRestoreRequest, ExecProcess, ExecSyncRequest, ExecSyncResult, ExitStatus, HandlerPolicy, OciRuntime, OciSpec, PendingCreateRequest, RuntimeState } from '../../lib/oci/index.js';

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

  async create(req: PendingCreateRequest): Promise<number> {
    this.calls.push(`create:${req.id}`);
    const spec = await req.spec;
    await this.delay();
    const pid = this.nextPid++;
    this.containers.set(req.id, { spec, pid, status: 'created' });
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

  /**
   * Whether the fake acts as a node where CRIU works. Without it checkpoints are refused as
   * such a node refuses them; with it a dump writes the process's state (its spec and a
   * counter the test may set) as an image file, and a restore reads it back into a running
   * container, refusing images it did not write.
   */
  criu: { usable: false; reason: string } | { usable: true } = { usable: false, reason: 'the fake runtime has no CRIU' };
  /** The "memory" of each container's process, carried through a checkpoint and restore. */
  readonly memory = new Map<string, string>();

  async checkpointSupport(): Promise<CheckpointSupport> {
    return this.criu.usable ? { usable: true, reason: '' } : { usable: false, reason: this.criu.reason };
  }

  async pause(id: string): Promise<void> {
    this.calls.push(`pause:${id}`);
    this.container(id);
  }

  async resume(id: string): Promise<void> {
    this.calls.push(`resume:${id}`);
    this.container(id);
  }

  async checkpoint(id: string, req: CheckpointRequest): Promise<void> {
    this.calls.push(`checkpoint:${id}`);
    if (!this.criu.usable) throw new FailedPreconditionError(this.criu.reason);
    const c = this.container(id);
    if (c.status !== 'running') throw new FailedPreconditionError(`container ${id} is not running`);
    writeFileSync(join(req.imagePath, FAKE_IMAGE), JSON.stringify({ args: c.spec.process.args, memory: this.memory.get(id) ?? '' }));
    writeFileSync(join(req.workPath, 'dump.log'), `dumped ${id}\n`);
    if (!req.leaveRunning) this.exit(id, 0);
  }

  async restore(req: ContainerRestoreRequest): Promise<number> {
    this.calls.push(`restore:${req.id}`);
    if (!this.criu.usable) throw new FailedPreconditionError(this.criu.reason);
    const image = JSON.parse(readFileSync(join(req.imagePath, FAKE_IMAGE), 'utf8')) as { args: string[]; memory: string };
    if (JSON.stringify(image.args) !== JSON.stringify(req.spec.process.args)) throw new Error(`restore: the images are of ${image.args.join(' ')}, the spec runs ${req.spec.process.args.join(' ')}`);
    const pid = this.nextPid++;
    this.containers.set(req.id, { spec: req.spec, pid, status: 'running' });
    this.memory.set(req.id, image.memory);
    return pid;
  }
}

/** The one image file the fake's dumps write. */
const FAKE_IMAGE = 'fake-pages.img';

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

  async prepare(): Promise<void> {}

  watchExits(listener: (id: string) => void): void {
    this.fake.onExit = listener;
  }
}
