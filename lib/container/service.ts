import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/index.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { CreateContainerRequest__Output } from '../generated/runtime/v1/CreateContainerRequest.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import { AlreadyExistsError, CancelledError, FailedPreconditionError, InvalidArgumentError, NotFoundError, isRuntimeError, messageOf } from '../errors/index.js';
import type { ImageRuntimeConfig, ImageService } from '../image/index.js';
import type { Logger } from '../log/index.js';
import type { Attachment, ExecProcess, ExecSyncResult, OciIdMapping, OciRuntime, OciSpec, RuntimeHandlers } from '../oci/index.js';
import type { IdMappings } from '../mount/index.js';
import type { Paths } from '../paths/index.js';
import type { PodRecord, SandboxService } from '../sandbox/index.js';
import type { RecordTable, StateStore } from '../state/index.js';
import type { Storage } from '../storage/index.js';
import { matchesLabels, newId, requireField, resolveIdPrefix } from '../util/ids.js';
import { nanosToWire, nowNanos } from '../util/time.js';
import { allHostDevices, loadRuntimeDefaults, resolveHostDevices } from './defaults.js';
import { IdmappedRootfs } from './idmapped-rootfs.js';
import { loadSeccompProfile, prepareMounts, resolveLogPath } from './host-prep.js';
import { unmount } from '../mount/index.js';
import type { ContainerRecord, ContainerStateName } from './record.js';
import { readFileInRoot } from './rootfs-files.js';
import { resolveCdiRequest } from '../cdi/index.js';
import { buildSpec, ociResources, seccompChoice, type ResolvedDevice, type RuntimeDefaults } from './spec/index.js';

export interface ContainerServiceDeps {
  config: Config;
  paths: Paths;
  store: StateStore;
  log: Logger;
  pods: SandboxService;
  images: ImageService;
  storage: Storage;
  oomRestriction: { restricted: boolean; own: number };
  /** Where lifecycle events go (GetContainerEvents). */
  events?: ContainerEventSink;
  metrics?: { containerOomKilled(): void };
  /** The runtime handlers: every container and exec of a pod goes through the pod's. */
  handlers: RuntimeHandlers;
}

export interface ContainerEventSink {
  publish(event: { type: 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT'; containerId: string; podId: string; createdAt: bigint }): void;
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
 * Container lifecycle: records in memory (every List/Status reads only these) and in the
 * state store (written before an RPC answers), runc through conmon for everything that runs,
 * and conmon's exit files for how containers ended.
 */
export class ContainerService {
  private readonly containers = new Map<string, ContainerRecord>();
  /** `pod/name/attempt` → container ID, reserved from the start of a create. */
  private readonly names = new Map<string, string>();
  private readonly exitWaiters = new Map<string, Set<() => void>>();
  /** Containers whose `runc start` is under way. */
  private readonly starting = new Set<string>();
  private readonly table: RecordTable<ContainerRecord>;
  private defaults: RuntimeDefaults | undefined;
  private readonly idmapped: IdmappedRootfs;

  constructor(private readonly deps: ContainerServiceDeps) {
    this.table = deps.store.table<ContainerRecord>('containers');
    this.idmapped = new IdmappedRootfs({ storage: deps.storage, paths: deps.paths, helper: () => deps.handlers.idmapHelper });
  }

  private get runtimeDefaults(): RuntimeDefaults {
    this.defaults ??= loadRuntimeDefaults(this.deps.config, this.deps.oomRestriction);
    return this.defaults;
  }

  private runtimeFor(handler: string): OciRuntime {
    return this.deps.handlers.runtime(handler);
  }

  private handlerFeatures(handler: string): { recursiveReadOnlyMounts: boolean } {
    return this.deps.handlers.policy(handler);
  }

  private nameKey(podId: string, name: string, attempt: number): string {
    return `${podId}/${name}/${attempt}`;
  }

  private persist(c: ContainerRecord): void {
    this.table.put(c);
  }

  /**
   * Rebuilds the in-memory view at start: half-made containers are undone, and containers
   * that exited while the daemon was down get their real exit code and time from conmon.
   */
  async recover(): Promise<void> {
    // Loaded now so that a broken install (no bundles/) fails the start, not the first create.
    this.defaults = loadRuntimeDefaults(this.deps.config, this.deps.oomRestriction);
    this.deps.handlers.prepare();
    this.deps.handlers.watchExits((id) => this.noteExit(id));
    for (const c of this.table.all()) {
      if (c.phase === 'creating') {
        await this.undoCreate(c).catch((err: unknown) => this.deps.log.warn({ container: c.id, err: messageOf(err) }, 'cleaning up a half-created container failed'));
        continue;
      }
      this.containers.set(c.id, c);
      this.names.set(this.nameKey(c.podId, c.metadata.name, c.metadata.attempt), c.id);
      this.reconcile(c, true);
    }
    this.deps.log.info({ containers: this.containers.size }, 'containers recovered');
  }

  /**
   * Brings a record in line with conmon: its exit file and, when `deep`, its monitor gone
   * without one. Reads do the cheap check (one stat); recovery and waits do both.
   */
  private reconcile(c: ContainerRecord, deep = false): void {
    if (c.state !== 'CONTAINER_RUNNING' && c.state !== 'CONTAINER_CREATED') return;
    if (this.starting.has(c.id)) return;
    const status = this.runtimeFor(c.runtimeHandler).exitStatus(c.id, deep);
    if (status.state === 'running') return;
    c.state = 'CONTAINER_EXITED';
    if (status.state === 'exited') {
      c.exitCode = status.exitCode;
      // A container that exits at once may do so before `start` returned to us: never report
      // it finished before it started.
      const startedAt = BigInt(c.startedAt || '0');
      c.finishedAt = (status.exitedAt > startedAt ? status.exitedAt : startedAt).toString();
      c.reason = status.oomKilled ? 'OOMKilled' : c.exitCode === 0 ? 'Completed' : 'Error';
      c.message = status.oomKilled ? 'the container was killed by the OOM killer' : '';
      if (status.oomKilled) this.deps.metrics?.containerOomKilled();
    } else {
      c.exitCode = 255;
      c.finishedAt = nanosToWire(nowNanos());
      c.reason = 'Error';
      c.message = 'the container monitor exited without recording an exit code';
    }
    this.persist(c);
    this.publish('CONTAINER_STOPPED_EVENT', c, BigInt(c.finishedAt));
    this.wake(c.id);
  }

  private publish(type: Parameters<ContainerEventSink['publish']>[0]['type'], c: ContainerRecord, at: bigint): void {
    this.deps.events?.publish({ type, containerId: c.id, podId: c.podId, createdAt: at });
  }

  private noteExit(id: string): void {
    const c = this.containers.get(id);
    if (c) this.reconcile(c);
  }

  private wake(id: string): void {
    const waiters = this.exitWaiters.get(id);
    if (!waiters) return;
    this.exitWaiters.delete(id);
    for (const w of waiters) w();
  }

  /** Resolves when the container has exited or `ms` passed; true if it exited. */
  private waitExit(c: ContainerRecord, ms: number): Promise<boolean> {
    this.reconcile(c);
    if (c.state === 'CONTAINER_EXITED') return Promise.resolve(true);
    return new Promise((resolve) => {
      const set = this.exitWaiters.get(c.id) ?? new Set();
      this.exitWaiters.set(c.id, set);
      let poll: NodeJS.Timeout | undefined;
      const done = (exited: boolean) => {
        clearTimeout(timer);
        clearInterval(poll);
        set.delete(onExit);
        if (set.size === 0 && this.exitWaiters.get(c.id) === set) this.exitWaiters.delete(c.id);
        resolve(exited);
      };
      const onExit = () => done(true);
      const timer = setTimeout(() => {
        this.reconcile(c);
        done(c.state === 'CONTAINER_EXITED');
      }, ms);
      // fs.watch can miss an event; a slow poll guarantees progress.
      poll = setInterval(() => this.reconcile(c, true), 250);
      set.add(onExit);
    });
  }

  get(idOrPrefix: string): ContainerRecord {
    const c = resolveIdPrefix(this.containers, requireField(idOrPrefix, 'container_id'), 'container');
    this.reconcile(c);
    return c;
  }

  list(filter: ContainerFilter = {}): ContainerRecord[] {
    const out: ContainerRecord[] = [];
    for (const c of this.containers.values()) {
      if (filter.id && !c.id.startsWith(filter.id)) continue;
      if (filter.podId && !c.podId.startsWith(filter.podId)) continue;
      this.reconcile(c);
      if (filter.state && c.state !== filter.state) continue;
      if (!matchesLabels(c.labels, filter.labelSelector)) continue;
      out.push(c);
    }
    return out;
  }

  /** CreateContainer. The name is reserved first, so a retried slow create gets ALREADY_EXISTS naming the first. */
  async create(req: CreateContainerRequest__Output, signal: AbortSignal, log: Logger): Promise<string> {
    const podId = requireField(req.pod_sandbox_id, 'pod_sandbox_id');
    const config = req.config;
    if (!config) throw new InvalidArgumentError('config is required');
    const name = requireField(config.metadata?.name, 'config.metadata.name');
    const imageName = requireField(config.image?.image, 'config.image.image');
    const pod = this.deps.pods.get(podId);
    if (pod.state !== 'SANDBOX_READY') throw new FailedPreconditionError(`pod sandbox ${pod.id} is not ready`);
    const attempt = config.metadata?.attempt ?? 0;
    const key = this.nameKey(pod.id, name, attempt);
    const existing = this.names.get(key);
    if (existing) throw new AlreadyExistsError(`container name "${name}" (attempt ${attempt}) in pod ${pod.id} is already reserved for container ${existing}`);
    const image = this.deps.images.resolve(imageName);
    if (!image) throw new NotFoundError(`image "${imageName}" not found`);

    const id = newId();
    this.names.set(key, id);
    const c: ContainerRecord = {
      id, podId: pod.id, metadata: { name, attempt }, phase: 'creating', state: 'CONTAINER_CREATED',
      image: imageName, imageRef: image.repoDigests[0] ?? image.id, imageId: image.id,
      labels: { ...config.labels }, annotations: { ...config.annotations },
      createdAt: '0', startedAt: '0', finishedAt: '0', exitCode: 0, reason: '', message: '', pid: 0,
      logPath: '', runtimeHandler: pod.runtimeHandler,
      bundle: this.deps.paths.bundle(id), containerDir: this.deps.paths.containerDir(id),
      mounts: config.mounts, resources: config.linux?.resources ?? null, user: { uid: 0, gid: 0, groups: [] },
      stopSignal: 'SIGTERM', tty: config.tty, stdin: config.stdin,
    };
    const clog = log.child({ container: id, pod: pod.id });
    try {
      this.persist(c);
      const timings: Record<string, number> = {};
      await this.build(c, pod, config, image.layers, image.config, clog, timings);
      if (signal.aborted) throw new CancelledError('CreateContainer was cancelled by the client');
      c.phase = 'ready';
      c.createdAt = nanosToWire(nowNanos());
      this.persist(c);
      this.containers.set(id, c);
      this.publish('CONTAINER_CREATED_EVENT', c, BigInt(c.createdAt));
      clog.info({ name, image: imageName, ms: timings }, 'container created');
      return id;
    } catch (err) {
      await this.undoCreate(c).catch((undoErr: unknown) => clog.warn({ err: messageOf(undoErr) }, 'undoing a failed create failed'));
      throw err;
    } finally {
      if (!this.containers.has(id) && this.names.get(key) === id) this.names.delete(key);
    }
  }

  private async build(c: ContainerRecord, pod: PodRecord, config: ContainerConfig__Output, layers: string[], imageConfig: ImageRuntimeConfig, log: Logger, timings: Record<string, number>): Promise<void> {
    let mark = performance.now();
    const lap = (step: string) => {
      const now = performance.now();
      timings[step] = Math.round((now - mark) * 10) / 10;
      mark = now;
    };
    mkdirSync(c.bundle, { recursive: true, mode: 0o700 });
    mkdirSync(c.containerDir, { recursive: true, mode: 0o700 });
    const userns = pod.userNamespace && pod.namespacePaths.user ? { path: pod.namespacePaths.user, ...pod.userNamespace } : undefined;
    // The runtime reaches a user-namespaced root filesystem as the container's root, an
    // unprivileged ID on the node: its mount point must be where that ID can walk.
    const rootfs = await this.deps.storage.createContainerRootfs({ containerId: c.id, layers, ...(userns ? { mountPoint: this.idmapped.mountPointFor(c.id) } : {}) });
    if (userns) await this.idmapped.remap(pod.id, userns.path, hostRoot(userns), layers, rootfs);
    lap('rootfs');
    const sc = config.linux?.security_context;
    const choice = seccompChoice(sc, this.runtimeDefaults.seccompWhenEmpty);
    const { mounts, propagated, madeShared } = await prepareMounts(config.mounts);
    c.propagatedSources = propagated;
    c.madeShared = madeShared;
    if (madeShared.length > 0) this.persist(c);
    const cdi = resolveCdiRequest(config, this.deps.config.runtime.cdi_spec_dirs);
    const devices: ResolvedDevice[] = cdi.hostDevices.flatMap((d) => {
      if (!existsSync(d.host_path)) throw new InvalidArgumentError(`device ${d.host_path} does not exist on the host`);
      return resolveHostDevices(d.host_path, d.container_path || d.host_path, d.permissions);
    });
    let targetPid: number | undefined;
    const targetId = sc?.namespace_options?.pid === 'TARGET' ? sc.namespace_options.target_id : '';
    if (targetId) {
      const target = this.containers.get(targetId);
      if (target?.state === 'CONTAINER_RUNNING') targetPid = target.pid;
    }
    const result = buildSpec({
      containerId: c.id,
      containerDir: c.containerDir,
      rootfs: rootfs.rootfs,
      pod: {
        id: pod.id, config: pod.config, cgroupParent: pod.cgroupParent,
        namespaces: { network: pod.namespacePaths.net, ipc: pod.namespacePaths.ipc, uts: pod.namespacePaths.uts, pid: pod.namespacePaths.pid },
        files: { hostname: pod.hostnamePath, resolvConf: pod.resolvConfPath, hosts: pod.hostsPath, shm: pod.shmPath },
        ...(userns ? { userNamespace: { path: userns.path, uidMappings: userns.uids.map(ociMapping), gidMappings: userns.gids.map(ociMapping) } } : {}),
      },
      container: { ...config, mounts },
      image: imageConfig,
      defaults: this.runtimeDefaults,
      identity: { passwd: readFileInRoot(rootfs.rootfs, '/etc/passwd'), group: readFileInRoot(rootfs.rootfs, '/etc/group') },
      devices,
      hostDevices: sc?.privileged ? allHostDevices() : [],
      ...(choice.kind === 'localhost' && !sc?.privileged ? { localhostSeccomp: loadSeccompProfile(choice.path) } : {}),
      ...(targetPid ? { targetPid } : {}),
      handler: this.handlerFeatures(c.runtimeHandler),
      cdi: cdi.edits,
    });
    for (const w of result.warnings) log.warn(w);
    const owner = userns ? hostRoot(userns) : undefined;
    for (const dir of result.volumeDirs) {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      // An image volume is the container's own: its root must be able to write there.
      if (owner) chownSync(dir, owner.uid, owner.gid);
    }
    c.user = result.user;
    c.stopSignal = result.stopSignal;
    c.logPath = resolveLogPath(pod.logDirectory, config.log_path, c.containerDir);
    mkdirSync(dirname(c.logPath), { recursive: true });
    lap('spec');
    c.pid = await this.runtimeFor(c.runtimeHandler).create({
      id: c.id, name: config.metadata?.name ?? c.id, spec: result.spec, logPath: c.logPath,
      terminal: config.tty, stdin: config.stdin, stdinOnce: config.stdin_once,
    });
    lap('conmon');
  }

  /** Removes whatever a create made; each step is a no-op when it never ran. */
  private async undoCreate(c: ContainerRecord): Promise<void> {
    await this.runtimeFor(c.runtimeHandler).delete(c.id);
    await this.deps.storage.removeContainerRootfs(c.id);
    await this.deps.storage.removeTree(c.containerDir);
    await this.releaseSharedSources(c);
    this.table.delete(c.id);
  }

  /** Hands each self bind mount this container made to another container using it, or removes it. */
  private async releaseSharedSources(c: ContainerRecord): Promise<void> {
    for (const path of c.madeShared ?? []) {
      const heir = [...this.containers.values()].find((o) => o.id !== c.id && o.propagatedSources?.includes(path));
      if (heir) {
        heir.madeShared = [...(heir.madeShared ?? []), path];
        this.persist(heir);
      } else {
        // Lazily: containers may still hold copies of it.
        await unmount(path, { lazy: true });
      }
    }
  }

  async start(idOrPrefix: string, log: Logger): Promise<void> {
    const c = this.get(idOrPrefix);
    if (c.state !== 'CONTAINER_CREATED') throw new FailedPreconditionError(`container ${c.id} is ${stateWord(c.state)}, not created`);
    // An exit seen while `start` runs is applied once the container is recorded as started,
    // so the record (and the events) say started before stopped.
    this.starting.add(c.id);
    c.startedAt = nanosToWire(nowNanos());
    try {
      await this.runtimeFor(c.runtimeHandler).start(c.id);
    } catch (err) {
      this.starting.delete(c.id);
      c.startedAt = '0';
      c.state = 'CONTAINER_EXITED';
      c.exitCode = 128;
      c.reason = 'ContainerCannotRun';
      c.message = messageOf(err);
      c.finishedAt = nanosToWire(nowNanos());
      this.persist(c);
      this.publish('CONTAINER_STOPPED_EVENT', c, BigInt(c.finishedAt));
      throw err;
    }
    this.starting.delete(c.id);
    c.state = 'CONTAINER_RUNNING';
    this.persist(c);
    this.publish('CONTAINER_STARTED_EVENT', c, BigInt(c.startedAt));
    // A container that exited at once may already have its exit file.
    this.reconcile(c);
    log.child({ container: c.id }).info('container started');
  }

  /**
   * StopContainer: the stop signal, then SIGKILL once `timeoutSeconds` pass. Idempotent: an
   * exited (or never started) container is fine, and so is an unknown ID.
   */
  async stopContainer(idOrPrefix: string, timeoutSeconds: number, log: Logger): Promise<void> {
    const c = this.find(idOrPrefix);
    if (!c) return;
    await this.stopRecord(c, timeoutSeconds);
    log.child({ container: c.id }).info({ exitCode: c.exitCode }, 'container stopped');
  }

  private async stopRecord(c: ContainerRecord, timeoutSeconds: number): Promise<void> {
    this.reconcile(c);
    if (c.state === 'CONTAINER_EXITED' || c.state === 'CONTAINER_UNKNOWN') return;
    const rt = this.runtimeFor(c.runtimeHandler);
    if (timeoutSeconds > 0) {
      await rt.kill(c.id, c.stopSignal);
      if (await this.waitExit(c, timeoutSeconds * 1000)) return;
    }
    await rt.kill(c.id, 'KILL');
    if (!(await this.waitExit(c, KILL_WAIT_MS))) {
      throw new FailedPreconditionError(`container ${c.id} did not exit within ${KILL_WAIT_MS} ms of SIGKILL`);
    }
  }

  /** The container, or undefined when there is none: stop and remove of an unknown ID succeed. */
  private find(idOrPrefix: string): ContainerRecord | undefined {
    try {
      return this.get(idOrPrefix);
    } catch (err) {
      if (isRuntimeError(err) && err.kind === 'not_found') return undefined;
      throw err;
    }
  }

  /** RemoveContainer: force-stops, then deletes the runtime state, rootfs and bundle; keeps the log. Idempotent. */
  async remove(idOrPrefix: string, log: Logger): Promise<void> {
    const c = this.find(idOrPrefix);
    if (!c) return;
    await this.stopRecord(c, 0);
    await this.undoCreate(c);
    this.containers.delete(c.id);
    this.publish('CONTAINER_DELETED_EVENT', c, nowNanos());
    const key = this.nameKey(c.podId, c.metadata.name, c.metadata.attempt);
    if (this.names.get(key) === c.id) this.names.delete(key);
    log.child({ container: c.id }).info('container removed');
  }

  async stopPodContainers(podId: string): Promise<void> {
    await Promise.all(this.list({ podId }).filter((c) => c.podId === podId).map((c) => this.stopRecord(c, 0)));
  }

  async removePodContainers(podId: string): Promise<void> {
    const log = this.deps.log.child({ pod: podId });
    await Promise.all(this.list({ podId }).filter((c) => c.podId === podId).map((c) => this.remove(c.id, log)));
    await this.idmapped.releasePod(podId);
  }

  async updateResources(idOrPrefix: string, resources: LinuxContainerResources__Output | null): Promise<void> {
    const c = this.get(idOrPrefix);
    if (c.state !== 'CONTAINER_RUNNING' && c.state !== 'CONTAINER_CREATED') throw new FailedPreconditionError(`container ${c.id} is ${stateWord(c.state)}`);
    if (!resources) return;
    const d = this.runtimeDefaults;
    await this.runtimeFor(c.runtimeHandler).update(c.id, ociResources(resources, { pidsLimit: d.pidsLimit, cgroupV2: d.cgroupV2 }));
    c.resources = resources;
    this.persist(c);
  }

  async reopenLog(idOrPrefix: string): Promise<void> {
    const c = this.get(idOrPrefix);
    if (c.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${c.id} is not running`);
    await this.runtimeFor(c.runtimeHandler).reopenLog(c.id, c.logPath);
  }

  /** ExecSync: a timeout is an answer (non-zero exit, output so far), never an error. */
  async execSync(idOrPrefix: string, cmd: string[], timeoutSeconds: number, signal: AbortSignal): Promise<ExecSyncResult> {
    const c = this.get(idOrPrefix);
    if (c.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${c.id} is not running`);
    if (cmd.length === 0) throw new InvalidArgumentError('cmd is required');
    return this.runtimeFor(c.runtimeHandler).execSync(c.id, { cmd, timeoutMs: timeoutSeconds * 1000, outputCap: EXEC_OUTPUT_CAP, signal });
  }

  /** A streaming session's process in the container: the runtime's one exec, its slot held until the process started. */
  exec(id: string, cmd: string[], tty: boolean): Promise<ExecProcess> {
    const c = this.get(id);
    return this.runtimeFor(c.runtimeHandler).exec(c.id, { cmd, tty, holdSlot: 'until-started' });
  }

  attach(id: string): Promise<Attachment> {
    const c = this.get(id);
    return this.runtimeFor(c.runtimeHandler).attach(c.id);
  }

  runtimeSpec(c: ContainerRecord): OciSpec | undefined {
    return this.runtimeFor(c.runtimeHandler).spec(c.id);
  }
}

function ociMapping(m: IdMappings['uids'][number]): OciIdMapping {
  return { containerID: m.containerId, hostID: m.hostId, size: m.size };
}

/** The node's IDs of the container's root (the pod mappings map container ID 0). */
function hostRoot(m: IdMappings): { uid: number; gid: number } {
  return { uid: m.uids[0]?.hostId ?? 0, gid: m.gids[0]?.hostId ?? 0 };
}

function stateWord(state: ContainerStateName): string {
  return state.replace('CONTAINER_', '').toLowerCase();
}
