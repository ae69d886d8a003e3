import { join } from 'node:path';
import type { Config } from '../config/index.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, messageOf } from '../errors/index.js';
import { failpoint } from '../failpoints/index.js';
import type { Logger } from '../log/index.js';
import type { Attachment, ExecProcess, ExecSyncResult, HandlerPolicy, OciRuntime, OciSpec } from '../oci/index.js';
import type { Paths } from '../paths/index.js';
import type { StateStore } from '../state/index.js';
import type { Storage } from '../storage/index.js';
import { matchesLabels, requireField } from '../util/ids.js';
import { nanosToWire, nowNanos, processStartNanos } from '../util/time.js';
import { ARCHIVE } from './checkpoint-archive.js';
import { ContainerCheckpointer } from './checkpoint.js';
import { PodCheckpoints, type PodCheckpointsDeps } from './pod-checkpoint.js';
import { ContainerCreator, type CreateSources } from './create.js';
import { loadRuntimeDefaults } from './defaults.js';
import { eventPublisher, type ContainerEventSink, type PublishEvent } from './events.js';
import { ContainerExits } from './exits.js';
import { IdmappedRootfs } from './idmapped-rootfs.js';
import type { ContainerRecord, ContainerStateName } from './record.js';
import { ociResources, type RuntimeDefaults } from './spec/index.js';
import { ContainerStore } from './store.js';
import { loadPendingRestore } from './restore.js';
import { ContainerTeardown } from './teardown.js';

/** What containers need of the runtime handlers (lib/oci's RuntimeHandlers, or a fake in tests). */
export interface ContainerRuntimes {
  runtime(handler: string): OciRuntime;
  policy(handler: string): HandlerPolicy;
  readonly idmapHelper: string | undefined;
  /** Clears what a killed daemon left; called once before recovery. */
  prepare(): Promise<void>;
  watchExits(listener: (containerId: string) => void): void;
}

export interface ContainerLifecycleDeps {
  config: Config;
  paths: Paths;
  store: StateStore;
  log: Logger;
  storage: Pick<Storage, 'createContainerRootfs' | 'removeContainerRootfs' | 'removeTree' | 'layers' | 'mountImageVolume' | 'releaseImageVolumes' | 'imageVolumeOwners'
    | 'upperDirOf' | 'rootfsLayersOf' | 'layerDirs'>;
  oomRestriction: { restricted: boolean; own: number };
  /** Every container and exec of a pod goes through the pod's handler. */
  runtimes: ContainerRuntimes;
  events?: ContainerEventSink;
  metrics?: { containerOomKilled(): void };
  /**
   * After a removed container's image volumes are unmounted, with their images' IDs: layers
   * kept only for those volumes (their image was removed meanwhile) can be collected now.
   */
  imageVolumesReleased?: (imageIds: readonly string[]) => Promise<void>;
}

export interface ContainerFilter {
  id?: string;
  podId?: string;
  state?: ContainerStateName;
  labelSelector?: Record<string, string>;
}

/** A stop that outlives its grace period waits this long for SIGKILL to land. */
const KILL_WAIT_MS = 10_000;
/** Bytes kept of each of an ExecSync's stdout and stderr (kubelet's own cap is 16 MiB total). */
const EXEC_OUTPUT_CAP = 4 * 1024 * 1024;

/**
 * Containers from creation to removal: start, stop, removal, updates, exec and attach, each
 * through the container's runtime. A container's start, stop, removal and updates hold its
 * lock: concurrent calls on one container run one after the other, and each event goes out
 * once. Reads (List, Status) take no lock; they see a container whole or not at all.
 */
export class ContainerLifecycle {
  private readonly store: ContainerStore;
  private readonly exits: ContainerExits;
  private readonly teardown: ContainerTeardown;
  private readonly idmapped: IdmappedRootfs;
  private readonly publish: PublishEvent;
  private readonly checkpointer: ContainerCheckpointer;
  private defaults: RuntimeDefaults | undefined;

  constructor(private readonly deps: ContainerLifecycleDeps) {
    this.store = new ContainerStore(deps.store);
    this.publish = eventPublisher(deps.events);
    const runtimeOf = (c: ContainerRecord) => this.runtimeOf(c);
    this.exits = new ContainerExits({ store: this.store, runtimeOf, publish: this.publish, ...(deps.metrics ? { metrics: deps.metrics } : {}) });
    this.idmapped = new IdmappedRootfs({ storage: deps.storage, paths: deps.paths, helper: () => deps.runtimes.idmapHelper });
    this.teardown = new ContainerTeardown({ store: this.store, storage: deps.storage, idmapped: this.idmapped, runtimeOf });
    this.checkpointer = new ContainerCheckpointer({ paths: deps.paths, storage: deps.storage, runtimeOf });
  }

  /** CreateContainer, reading pods and images (which are built after this: a pod's removal takes its containers along). */
  creator(sources: CreateSources): ContainerCreator {
    return new ContainerCreator({
      ...sources,
      paths: this.deps.paths, store: this.store, storage: this.deps.storage, idmapped: this.idmapped, teardown: this.teardown,
      runtimeOf: (c) => this.runtimeOf(c), policyOf: (c) => this.deps.runtimes.policy(c.runtimeHandler),
      defaults: () => this.runtimeDefaults, cdiSpecDirs: this.deps.config.runtime.cdi_spec_dirs, publish: this.publish,
    });
  }

  /** CheckpointPod and RestorePod, making pods through the pod service and containers through `creator`. */
  podCheckpoints(sources: { pods: PodCheckpointsDeps['pods']; creator: ContainerCreator }): PodCheckpoints {
    const never = new AbortController().signal;
    return new PodCheckpoints({
      paths: this.deps.paths, storage: this.deps.storage, checkpointer: this.checkpointer,
      runtimeOf: (c) => this.runtimeOf(c), runtimeOfHandler: (handler) => this.deps.runtimes.runtime(handler),
      containersOf: (podId) => this.list({ podId }).filter((c) => c.podId === podId),
      withLocks: (ids, task) => this.withLocks([...ids].sort(), task),
      pods: sources.pods,
      createRestored: (req, unpacked, log) => sources.creator.create(req, never, log, unpacked),
      start: (id, log) => this.start(id, log),
    });
  }

  /** Runs `task` holding the locks of `ids` (sorted, so two such calls cannot deadlock). */
  private withLocks<T>(ids: readonly string[], task: () => Promise<T>): Promise<T> {
    if (ids.length === 0) return task();
    return this.store.withLock(ids[0]!, () => this.withLocks(ids.slice(1), task));
  }

  private get runtimeDefaults(): RuntimeDefaults {
    this.defaults ??= loadRuntimeDefaults(this.deps.config, this.deps.oomRestriction);
    return this.defaults;
  }

  private runtimeOf(c: ContainerRecord): OciRuntime {
    return this.deps.runtimes.runtime(c.runtimeHandler);
  }

  /**
   * Rebuilds the in-memory view at start: half-made containers are undone, and containers
   * that exited while the daemon was down get their real exit code and time from their runtime.
   */
  async recover(): Promise<void> {
    // Loaded now so that a broken install (no bundles/) fails the start, not the first create.
    this.defaults = loadRuntimeDefaults(this.deps.config, this.deps.oomRestriction);
    await this.deps.runtimes.prepare();
    this.deps.runtimes.watchExits((id) => this.exits.noteExit(id));
    for (const c of this.store.stored()) {
      if (c.phase === 'creating') {
        await this.teardown.remove(c).catch((err: unknown) => this.deps.log.warn({ container: c.id, err: messageOf(err) }, 'cleaning up a half-created container failed'));
        continue;
      }
      this.store.add(c);
      this.exits.reconcile(c, true);
      if (c.state === 'CONTAINER_CREATED') await this.adoptStart(c);
    }
    // Pod checkpoints and restores a stopped daemon left half done: nothing refers to them.
    await this.deps.storage.removeTree(this.deps.paths.podCheckpointsRoot);
    await this.deps.storage.removeTree(this.deps.paths.podRestoresRoot);
    // Image volumes whose container is gone without a record (removed by hand, or a record lost).
    for (const owner of this.deps.storage.imageVolumeOwners()) {
      if (!this.store.has(owner)) await this.deps.storage.releaseImageVolumes(owner).catch((err: unknown) => this.deps.log.warn({ container: owner, err: messageOf(err) }, 'releasing stale image volumes failed'));
    }
    this.deps.log.info({ containers: this.store.size }, 'containers recovered');
  }

  /**
   * A record that says created, of a container its runtime runs: the daemon died between the
   * runtime's start and the record's. It is running; a StartContainer would only fail on it.
   */
  private async adoptStart(c: ContainerRecord): Promise<void> {
    const state = await this.runtimeOf(c).state(c.id).catch(() => undefined);
    if (state?.status !== 'running' && state?.status !== 'paused') return;
    c.state = 'CONTAINER_RUNNING';
    // A restore that went through is a start like another.
    if (c.restorePending) c.restorePending = false;
    c.startedAt = nanosToWire(processStartNanos(state.pid) ?? nowNanos());
    this.store.persist(c);
    this.publish('CONTAINER_STARTED_EVENT', c, BigInt(c.startedAt));
    this.deps.log.info({ container: c.id }, 'container was started before the restart; recorded as running');
  }

  get(idOrPrefix: string): ContainerRecord {
    const c = this.store.get(requireField(idOrPrefix, 'container_id'));
    this.exits.reconcile(c);
    return c;
  }

  list(filter: ContainerFilter = {}): ContainerRecord[] {
    const out: ContainerRecord[] = [];
    for (const c of this.store.all()) {
      if (filter.id && !c.id.startsWith(filter.id)) continue;
      if (filter.podId && !c.podId.startsWith(filter.podId)) continue;
      this.exits.reconcile(c);
      if (filter.state && c.state !== filter.state) continue;
      if (!matchesLabels(c.labels, filter.labelSelector)) continue;
      out.push(c);
    }
    return out;
  }

  /** Runs `task` on the container under its lock, unless it was removed while the task waited for it. */
  private locked(c: ContainerRecord, task: () => Promise<void>): Promise<void> {
    return this.store.withLock(c.id, async () => {
      if (this.store.has(c.id)) await task();
    });
  }

  async start(idOrPrefix: string, log: Logger): Promise<void> {
    const c = this.get(idOrPrefix);
    await this.store.withLock(c.id, async () => {
      this.exits.reconcile(c);
      if (!this.store.has(c.id)) throw new NotFoundError(`container "${c.id}" not found`);
      if (c.state !== 'CONTAINER_CREATED') throw new FailedPreconditionError(`container ${c.id} is ${stateWord(c.state)}, not created`);
      // An exit seen while the start runs is applied once the container is recorded as
      // started, so the record (and the events) say started before stopped.
      c.startedAt = nanosToWire(nowNanos());
      try {
        await this.exits.starts(c, async () => {
          await (c.restorePending ? this.restore(c) : this.runtimeOf(c).start(c.id));
          failpoint('container.start.after-runtime-start');
        });
      } catch (err) {
        c.startedAt = '0';
        c.state = 'CONTAINER_EXITED';
        c.exitCode = 128;
        c.reason = 'ContainerCannotRun';
        c.message = messageOf(err);
        c.finishedAt = nanosToWire(nowNanos());
        this.store.persist(c);
        this.publish('CONTAINER_STOPPED_EVENT', c, BigInt(c.finishedAt));
        throw err;
      }
      c.state = 'CONTAINER_RUNNING';
      this.store.persist(c);
      this.publish('CONTAINER_STARTED_EVENT', c, BigInt(c.startedAt));
      // A container that exited at once may already have its exit recorded.
      this.exits.reconcile(c);
    });
    log.child({ container: c.id }).info('container started');
  }

  /** The start of a container created from a checkpoint: its runtime restores its processes from CRIU's images. */
  private async restore(c: ContainerRecord): Promise<void> {
    const dir = this.deps.paths.restoreDir(c.id);
    const request = await loadPendingRestore(dir);
    c.pid = await this.runtimeOf(c).restore({ ...request, imagePath: join(dir, ARCHIVE.checkpointDir) });
    c.restorePending = false;
    // CRIU's images are in the container now; the unpacked archive can go.
    await this.deps.storage.removeTree(dir);
  }

  /**
   * StopContainer: the stop signal, then SIGKILL once `timeoutSeconds` pass. Idempotent: an
   * exited (or never started) container is fine, and so is an unknown ID.
   */
  async stopContainer(idOrPrefix: string, timeoutSeconds: number, log: Logger): Promise<void> {
    const c = this.store.find(requireField(idOrPrefix, 'container_id'));
    if (!c) return;
    await this.locked(c, () => this.stopNow(c, timeoutSeconds));
    log.child({ container: c.id }).info({ exitCode: c.exitCode }, 'container stopped');
  }

  private async stopNow(c: ContainerRecord, timeoutSeconds: number): Promise<void> {
    this.exits.reconcile(c);
    if (c.state === 'CONTAINER_EXITED' || c.state === 'CONTAINER_UNKNOWN') return;
    // Nothing of a container still to be restored runs.
    if (c.restorePending) return;
    const rt = this.runtimeOf(c);
    if (timeoutSeconds > 0) {
      await rt.kill(c.id, c.stopSignal);
      failpoint('container.stop.after-kill-signal');
      if (await this.exits.wait(c, timeoutSeconds * 1000)) return;
    }
    await rt.kill(c.id, 'KILL');
    failpoint('container.stop.after-kill-signal');
    if (!(await this.exits.wait(c, KILL_WAIT_MS))) {
      throw new FailedPreconditionError(`container ${c.id} did not exit within ${KILL_WAIT_MS} ms of SIGKILL`);
    }
  }

  /** RemoveContainer: force-stops, then deletes it from its runtime, its root filesystem and directory; keeps the log. Idempotent. */
  async remove(idOrPrefix: string, log: Logger): Promise<void> {
    const c = this.store.find(requireField(idOrPrefix, 'container_id'));
    if (!c) return;
    let removed = false;
    await this.locked(c, async () => {
      await this.stopNow(c, 0);
      await this.teardown.remove(c);
      this.publish('CONTAINER_DELETED_EVENT', c, nowNanos());
      removed = true;
    });
    if (!removed) return;
    log.child({ container: c.id }).info('container removed');
    const volumeImages = (c.imageVolumes ?? []).map((v) => v.imageId);
    if (volumeImages.length > 0) await this.deps.imageVolumesReleased?.(volumeImages);
  }

  /**
   * CheckpointContainer: the archive of a running container at `location`; it goes on
   * running. Under its lock, so a stop or removal waits for the dump to end.
   */
  async checkpoint(idOrPrefix: string, location: string, timeoutSeconds: number, log: Logger): Promise<void> {
    const c = this.get(idOrPrefix);
    await this.checkpointer.precheck(c, location);
    await this.store.withLock(c.id, async () => {
      if (!this.store.has(c.id)) throw new NotFoundError(`container "${c.id}" not found`);
      this.exits.reconcile(c);
      await this.checkpointer.write(c, location, timeoutSeconds * 1000, log.child({ container: c.id }));
    });
  }

  /** Stops every container of the pod (StopPodSandbox). */
  async stopPodContainers(podId: string): Promise<void> {
    await Promise.all(this.list({ podId }).filter((c) => c.podId === podId).map((c) => this.locked(c, () => this.stopNow(c, 0))));
  }

  /** Removes every container of the pod (RemovePodSandbox). */
  async removePodContainers(podId: string): Promise<void> {
    const log = this.deps.log.child({ pod: podId });
    await Promise.all(this.list({ podId }).filter((c) => c.podId === podId).map((c) => this.remove(c.id, log)));
    await this.teardown.releasePod(podId);
  }

  async updateResources(idOrPrefix: string, resources: LinuxContainerResources__Output | null): Promise<void> {
    const c = this.get(idOrPrefix);
    await this.locked(c, async () => {
      if (c.state !== 'CONTAINER_RUNNING' && c.state !== 'CONTAINER_CREATED') throw new FailedPreconditionError(`container ${c.id} is ${stateWord(c.state)}`);
      if (!resources) return;
      const d = this.runtimeDefaults;
      await this.runtimeOf(c).update(c.id, ociResources(resources, { pidsLimit: d.pidsLimit, cgroupV2: d.cgroupV2 }));
      c.resources = resources;
      this.store.persist(c);
    });
  }

  async reopenLog(idOrPrefix: string): Promise<void> {
    const c = this.get(idOrPrefix);
    if (c.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${c.id} is not running`);
    await this.runtimeOf(c).reopenLog(c.id, c.logPath);
  }

  /** ExecSync: a timeout is an answer (non-zero exit, output so far), never an error. */
  async execSync(idOrPrefix: string, cmd: string[], timeoutSeconds: number, signal: AbortSignal): Promise<ExecSyncResult> {
    const c = this.get(idOrPrefix);
    if (c.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${c.id} is not running`);
    if (cmd.length === 0) throw new InvalidArgumentError('cmd is required');
    return this.runtimeOf(c).execSync(c.id, { cmd, timeoutMs: timeoutSeconds * 1000, outputCap: EXEC_OUTPUT_CAP, signal });
  }

  /** A streaming session's process in the container: its exec slot is held only until the process started. */
  exec(id: string, cmd: string[], tty: boolean): Promise<ExecProcess> {
    const c = this.get(id);
    return this.runtimeOf(c).exec(c.id, { cmd, tty, holdSlot: 'until-started' });
  }

  attach(id: string): Promise<Attachment> {
    const c = this.get(id);
    return this.runtimeOf(c).attach(c.id);
  }

  runtimeSpec(c: ContainerRecord): OciSpec | undefined {
    return this.runtimeOf(c).spec(c.id);
  }
}

function stateWord(state: ContainerStateName): string {
  return state.replace('CONTAINER_', '').toLowerCase();
}
