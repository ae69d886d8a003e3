import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { CreateContainerRequest__Output } from '../generated/runtime/v1/CreateContainerRequest.js';
import { CancelledError, FailedPreconditionError, InvalidArgumentError, NotFoundError, messageOf } from '../errors/index.js';
import { failpoint } from '../failpoints/index.js';
import type { ImageRecord, ImageRuntimeConfig, ImageService } from '../image/index.js';
import type { Logger } from '../log/index.js';
import type { IdMappings } from '../mount/index.js';
import type { HandlerPolicy, OciIdMapping, OciRuntime, OciSpec } from '../oci/index.js';
import type { Paths } from '../paths/index.js';
import type { PodRecord } from '../sandbox/index.js';
import { resolveCdiRequest } from '../cdi/index.js';
import type { Storage } from '../storage/index.js';
import { newId, requireField } from '../util/ids.js';
import { nanosToWire, nowNanos } from '../util/time.js';
import { allHostDevices, resolveHostDevices } from './defaults.js';
import type { PublishEvent } from './events.js';
import { loadSeccompProfile, prepareMounts, resolveLogPath } from './host-prep.js';
import { mountImageVolumes } from './image-volumes.js';
import { checkpointArchiveOf, restoredProcess, savePendingRestore, unpackCheckpoint, type RestorePlan } from './restore.js';
import { applyRootfsDiff } from './rootfs-diff.js';
import type { IdmappedRootfs } from './idmapped-rootfs.js';
import type { ContainerRecord } from './record.js';
import { readFileInRoot } from './rootfs-files.js';
import { buildSpec, seccompChoice, type ResolvedDevice, type RuntimeDefaults } from './spec/index.js';
import type { ContainerStore } from './store.js';
import type { ContainerTeardown } from './teardown.js';

/** The pods and images a create reads. */
export interface CreateSources {
  pods: { get(idOrPrefix: string): PodRecord };
  images: Pick<ImageService, 'resolve'>;
}

export interface ContainerCreatorDeps extends CreateSources {
  paths: Paths;
  store: ContainerStore;
  storage: Pick<Storage, 'createContainerRootfs' | 'mountImageVolume' | 'layerDirs'>;
  idmapped: IdmappedRootfs;
  teardown: ContainerTeardown;
  runtimeOf: (c: ContainerRecord) => OciRuntime;
  policyOf: (c: ContainerRecord) => HandlerPolicy;
  defaults: () => RuntimeDefaults;
  /** Where CDI device specs are (`runtime.cdi_spec_dirs`). */
  cdiSpecDirs: readonly string[];
  publish: PublishEvent;
}

/** Step durations of one create, logged with it: where the time went. */
type Timings = Record<string, number>;

/**
 * CreateContainer: the name reserved first (a retried slow create gets ALREADY_EXISTS naming
 * the first), then root filesystem, mounts, the spec, and the container in its runtime. A
 * create that fails, or that a crash interrupts, leaves nothing behind.
 */
export class ContainerCreator {
  constructor(private readonly deps: ContainerCreatorDeps) {}

  /** `unpacked`: the checkpoint the image names is unpacked there already (RestorePod). */
  async create(req: CreateContainerRequest__Output, signal: AbortSignal, log: Logger, unpacked?: string): Promise<string> {
    const podId = requireField(req.pod_sandbox_id, 'pod_sandbox_id');
    const config = req.config;
    if (!config) throw new InvalidArgumentError('config is required');
    const name = requireField(config.metadata?.name, 'config.metadata.name');
    const imageName = requireField(config.image?.image, 'config.image.image');
    const pod = this.deps.pods.get(podId);
    if (pod.state !== 'SANDBOX_READY') throw new FailedPreconditionError(`pod sandbox ${pod.id} is not ready`);
    const attempt = config.metadata?.attempt ?? 0;
    const id = newId();
    const { store } = this.deps;
    store.reserveName(pod.id, name, attempt, id);
    let archive: string | undefined;
    let image: ImageRecord | undefined;
    try {
      archive = checkpointArchiveOf(imageName);
      image = archive ? undefined : this.deps.images.resolve(imageName);
      if (!archive && !image) throw new NotFoundError(`image "${imageName}" not found`);
    } catch (err) {
      store.releaseName(pod.id, name, attempt, id);
      throw err;
    }
    const c: ContainerRecord = {
      id, podId: pod.id, metadata: { name, attempt }, phase: 'creating', state: 'CONTAINER_CREATED',
      image: imageName, imageRef: image ? image.repoDigests[0] ?? image.id : '', imageId: image?.id ?? '',
      labels: { ...config.labels }, annotations: { ...config.annotations },
      createdAt: '0', startedAt: '0', finishedAt: '0', exitCode: 0, reason: '', message: '', pid: 0,
      logPath: '', runtimeHandler: pod.runtimeHandler, containerDir: this.deps.paths.containerDir(id),
      mounts: config.mounts, resources: config.linux?.resources ?? null, user: { uid: 0, gid: 0, groups: [] },
      stopSignal: 'SIGTERM', tty: config.tty, stdin: config.stdin,
    };
    const clog = log.child({ container: id, pod: pod.id });
    try {
      store.persist(c);
      const timings: Timings = {};
      let restore: RestorePlan | undefined;
      if (archive) ({ restore, image } = await this.unpackForRestore(c, archive, unpacked));
      if (!image) throw new NotFoundError(`image "${imageName}" not found`);
      await this.build(c, pod, config, image.layers, image.config, clog, timings, restore);
      if (signal.aborted) throw new CancelledError('CreateContainer was cancelled by the client');
      c.phase = 'ready';
      c.createdAt = nanosToWire(nowNanos());
      store.persist(c);
      store.add(c);
      this.deps.publish('CONTAINER_CREATED_EVENT', c, BigInt(c.createdAt));
      clog.info({ name, image: imageName, ms: timings }, 'container created');
      return id;
    } catch (err) {
      await this.deps.teardown.remove(c).catch((undoErr: unknown) => clog.warn({ err: messageOf(undoErr) }, 'undoing a failed create failed'));
      throw err;
    } finally {
      if (!store.has(id)) store.releaseName(pod.id, name, attempt, id);
    }
  }

  /**
   * A container created from a checkpoint archive: refused before anything is unpacked where
   * the pod's runtime cannot restore; its image is the one the checkpointed container ran on.
   */
  private async unpackForRestore(c: ContainerRecord, archive: string, unpacked: string | undefined): Promise<{ restore: RestorePlan; image: ImageRecord }> {
    const support = await this.deps.runtimeOf(c).checkpointSupport();
    if (!support.usable) throw new FailedPreconditionError(`cannot restore a container from checkpoint ${archive}: ${support.reason}`);
    const restore = await unpackCheckpoint(archive, this.deps.paths.restoreDir(c.id), unpacked);
    const image = this.deps.images.resolve(restore.baseImage);
    if (!image) throw new NotFoundError(`image "${restore.baseImage}" of checkpoint ${archive} is not on the node; pull it first`);
    c.image = restore.baseImage;
    c.imageRef = image.repoDigests[0] ?? image.id;
    c.imageId = image.id;
    c.restoredFrom = archive;
    return { restore, image };
  }

  private async build(c: ContainerRecord, pod: PodRecord, config: ContainerConfig__Output, layers: string[], imageConfig: ImageRuntimeConfig, log: Logger, timings: Timings, restore?: RestorePlan): Promise<void> {
    let mark = performance.now();
    const lap = (step: string) => {
      const now = performance.now();
      timings[step] = Math.round((now - mark) * 10) / 10;
      mark = now;
    };
    mkdirSync(c.containerDir, { recursive: true, mode: 0o700 });
    c.logPath = resolveLogPath(pod.logDirectory, config.log_path, c.containerDir);
    mkdirSync(dirname(c.logPath), { recursive: true });
    const request = {
      id: c.id, name: config.metadata?.name ?? c.id, logPath: c.logPath,
      terminal: config.tty, stdin: config.stdin, stdinOnce: config.stdin_once,
    };
    if (restore) {
      // As cri-o does, the processes come back at StartContainer: until then it is created.
      const spec = await this.buildSpec(c, pod, config, layers, imageConfig, log, lap, restore);
      await savePendingRestore(this.deps.paths.restoreDir(c.id), { ...request, spec });
      c.restorePending = true;
      return;
    }
    // The runtime's monitor starts now and sets itself up while the root filesystem and the
    // spec are made; the container is created from the spec once it is there.
    let spec!: { resolve: (s: OciSpec) => void; reject: (err: unknown) => void };
    const specMade = new Promise<OciSpec>((resolve, reject) => { spec = { resolve, reject }; });
    specMade.catch(() => undefined);
    const created = this.deps.runtimeOf(c).create({ ...request, spec: specMade });
    created.catch(() => undefined);
    try {
      spec.resolve(await this.buildSpec(c, pod, config, layers, imageConfig, log, lap));
    } catch (err) {
      spec.reject(err);
      await created.catch(() => undefined);
      throw err;
    }
    c.pid = await created;
    failpoint('container.create.after-conmon-start');
    lap('runtime');
  }

  /** Root filesystem, mounts and devices for the container, and its spec. */
  private async buildSpec(c: ContainerRecord, pod: PodRecord, config: ContainerConfig__Output, layers: string[], imageConfig: ImageRuntimeConfig, log: Logger, lap: (step: string) => void, restore?: RestorePlan): Promise<OciSpec> {
    const { idmapped, store } = this.deps;
    const defaults = this.deps.defaults();
    const userns = pod.userNamespace && pod.namespacePaths.user ? { path: pod.namespacePaths.user, ...pod.userNamespace } : undefined;
    // The runtime reaches a user-namespaced root filesystem as the container's root, an
    // unprivileged ID on the node: its mount point must be where that ID can walk.
    const rootfs = await this.deps.storage.createContainerRootfs({
      containerId: c.id, layers, ...(userns ? { mountPoint: idmapped.mountPointFor(c.id) } : {}),
      // A restored container's root filesystem holds what the checkpointed one had changed.
      ...(restore ? { prepareUpper: (upperDir: string) => applyRootfsDiff({ upperDir, diffTar: restore.diffTar, deleted: restore.deleted, lowerDirs: this.deps.storage.layerDirs(layers) }) } : {}),
    });
    if (userns) await idmapped.remap(pod.id, userns.path, hostRoot(userns), layers, rootfs);
    failpoint('container.create.after-rootfs-mount');
    lap('rootfs');
    const sc = config.linux?.security_context;
    const choice = seccompChoice(sc, defaults.seccompWhenEmpty);
    const volumes = await mountImageVolumes(c.id, config.mounts, { paths: this.deps.paths, images: this.deps.images, storage: this.deps.storage });
    if (volumes.uses.length > 0) c.imageVolumes = volumes.uses;
    lap('imageVolumes');
    const { mounts, propagated, madeShared } = await prepareMounts(volumes.mounts);
    c.propagatedSources = propagated;
    c.madeShared = madeShared;
    if (madeShared.length > 0 || volumes.uses.length > 0) store.persist(c);
    const cdi = resolveCdiRequest(config, this.deps.cdiSpecDirs);
    const devices: ResolvedDevice[] = cdi.hostDevices.flatMap((d) => {
      if (!existsSync(d.host_path)) throw new InvalidArgumentError(`device ${d.host_path} does not exist on the host`);
      return resolveHostDevices(d.host_path, d.container_path || d.host_path, d.permissions);
    });
    let targetPid: number | undefined;
    const targetId = sc?.namespace_options?.pid === 'TARGET' ? sc.namespace_options.target_id : '';
    if (targetId) {
      const target = store.find(targetId);
      if (target?.state === 'CONTAINER_RUNNING') targetPid = target.pid;
    }
    const policy = this.deps.policyOf(c);
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
      defaults,
      identity: { passwd: readFileInRoot(rootfs.rootfs, '/etc/passwd'), group: readFileInRoot(rootfs.rootfs, '/etc/group') },
      devices,
      hostDevices: sc?.privileged && !policy.privilegedWithoutHostDevices ? allHostDevices() : [],
      ...(choice.kind === 'localhost' && !sc?.privileged ? { localhostSeccomp: loadSeccompProfile(choice.path) } : {}),
      ...(targetPid ? { targetPid } : {}),
      handler: policy,
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
    if (restore) result.spec.process = restoredProcess(result.spec.process, restore.spec.process);
    lap('spec');
    return result.spec;
  }
}

function ociMapping(m: IdMappings['uids'][number]): OciIdMapping {
  return { containerID: m.containerId, hostID: m.hostId, size: m.size };
}

/** The node's IDs of the container's root (the pod mappings map container ID 0). */
function hostRoot(m: IdMappings): { uid: number; gid: number } {
  return { uid: m.uids[0]?.hostId ?? 0, gid: m.gids[0]?.hostId ?? 0 };
}
