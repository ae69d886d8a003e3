import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupManager } from '../cgroups/index.js';
import { podCgroupPath } from '../cgroups/index.js';
import type { Config } from '../config/index.js';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError, messageOf, isRuntimeError } from '../errors/index.js';
import type { RunPodSandboxRequest__Output } from '../generated/runtime/v1/RunPodSandboxRequest.js';
import { failpoint } from '../failpoints/index.js';
import type { ImageService } from '../image/index.js';
import type { Logger } from '../log/index.js';
import { ensurePrivateMount, mountPoints, mountsBelow, unmount, unmountAll } from '../mount/index.js';
import type { RuntimeHandlers } from '../oci/index.js';
import type { Paths, PinnedKind } from '../paths/index.js';
import type { RecordTable, StateStore } from '../state/index.js';
import type { Storage } from '../storage/index.js';
import { newId, resolveIdPrefix, matchesLabels } from '../util/ids.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { nowNanos } from '../util/time.js';
import { stopInfra, occupiedPidNamespaces, pidNamespaceOccupied } from './infra.js';
import type { CniNetwork } from './network/index.js';
import type { PodRecord, PodResources, PodState } from './record.js';
import { podCgroupLimits, resizePodCgroup } from './resize.js';
import { nameKey, planPod, type PodPlan } from './request.js';
import { PodSteps, waitForOrphans, type Timings } from './steps.js';

/** What the container side offers so a pod's stop and removal take its containers along. */
export interface PodContainersHook {
  stopPodContainers(podId: string, signal?: AbortSignal): Promise<void> | void;
  removePodContainers(podId: string): Promise<void> | void;
}

export interface SandboxDeps {
  config: Config;
  paths: Paths;
  store: StateStore;
  log: Logger;
  network: CniNetwork;
  cgroups: CgroupManager;
  /** Takes a pod's containers along when it stops and when it is removed. */
  containers: PodContainersHook;
  /** Whether the pod's handler can run here (and run user-namespaced pods), and its runtime for an infra container. */
  runtimeHandlers: Pick<RuntimeHandlers, 'known' | 'require' | 'runtime'>;
  /** Where an infra image comes from and goes (`runtime.infra_image`). */
  images: Pick<ImageService, 'resolve' | 'pull'>;
  storage: Pick<Storage, 'createContainerRootfs' | 'removeContainerRootfs'>;
}

export interface PodFilter {
  id?: string;
  state?: PodState;
  labelSelector?: Record<string, string>;
}

/**
 * Pod sandboxes: their lifecycle, durable records and the in-memory index every List/Status
 * reads. Each pod's operations are serialized; different pods proceed in parallel.
 */
export class SandboxService {
  private readonly pods = new Map<string, PodRecord>();
  private readonly names = new Map<string, string>();
  private readonly mutex = new KeyedMutex();
  /** Pods recovered with a network attached, for `checkRecoveredNetworks`. */
  private networksToCheck: PodRecord[] = [];
  private readonly table: RecordTable<PodRecord>;
  private readonly steps: PodSteps;

  constructor(private readonly deps: SandboxDeps) {
    this.table = deps.store.table<PodRecord>('pods');
    this.steps = new PodSteps({ ...deps, persist: (pod) => this.table.put(pod) });
  }

  /**
   * Rebuilds the index from the database at start. A pod caught half-made by a crash is torn
   * down and forgotten; a ready pod whose pinned network namespace is gone (a reboot emptied
   * /run) is NOTREADY, its CNI DEL still due at stop.
   */
  async recover(): Promise<void> {
    const { paths } = this.deps;
    mkdirSync(paths.nsDir, { recursive: true, mode: 0o711 });
    mkdirSync(paths.podsDir, { recursive: true, mode: 0o711 });
    await ensurePrivateMount(paths.nsDir);
    const mounted = mountPoints();
    const occupied = occupiedPidNamespaces();
    const toCheck: PodRecord[] = [];
    for (const pod of this.table.all()) {
      const log = this.deps.log.child({ pod: pod.id });
      if (pod.lifecycle.phase === 'creating') {
        try {
          await waitForOrphans(pod.id);
          await this.steps.teardown(pod, log);
          this.table.delete(pod.id);
          log.info('removed a pod sandbox left half-made by a previous run');
          continue;
        } catch (err) {
          log.warn({ err: messageOf(err) }, 'could not clean up a half-made pod sandbox; it stays NOTREADY');
          pod.lifecycle.phase = 'stopped';
          pod.state = 'SANDBOX_NOTREADY';
          this.table.put(pod);
        }
      } else if (pod.state === 'SANDBOX_READY') {
        const lost = Object.values(pod.namespacePaths).filter((p) => p && !mounted.has(p));
        const infraGone = !!pod.namespacePaths.pid && !pidNamespaceOccupied(pod.namespacePaths.pid, occupied);
        if (lost.length > 0 || infraGone) {
          log.warn({ lost, infraGone }, 'pod sandbox lost its namespaces or infra process; it is NOTREADY');
          pod.state = 'SANDBOX_NOTREADY';
          this.table.put(pod);
        } else if (pod.lifecycle.networkAttached) {
          toCheck.push(pod);
        }
      }
      this.pods.set(pod.id, pod);
      this.names.set(nameKey(pod.metadata), pod.id);
    }
    this.networksToCheck = toCheck;
  }

  /**
   * CNI CHECK of the pods that survived a restart, a few at a time; a failed check makes the
   * pod NOTREADY. Run after the daemon answers: each check runs the network's plugins.
   */
  async checkRecoveredNetworks(): Promise<void> {
    const queue = this.networksToCheck.filter((pod) => this.pods.get(pod.id) === pod && pod.state === 'SANDBOX_READY');
    this.networksToCheck = [];
    const worker = async () => {
      for (let pod = queue.shift(); pod; pod = queue.shift()) {
        const current = pod;
        // Under the pod's lock: one stopped or removed meanwhile has no network left to check.
        await this.mutex.run(current.id, async () => {
          if (this.pods.get(current.id) !== current || current.state !== 'SANDBOX_READY') return;
          try {
            await this.deps.network.check(this.steps.networkRequest(current));
          } catch (err) {
            this.deps.log.warn({ pod: current.id, err: messageOf(err) }, 'CNI CHECK failed after restart; the pod is NOTREADY');
            current.state = 'SANDBOX_NOTREADY';
            this.table.put(current);
          }
        });
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }

  /** A pod by full ID or unique prefix (NotFoundError otherwise). Pods still being made are not visible. */
  get(idOrPrefix: string): PodRecord {
    return resolveIdPrefix(this.visible(), idOrPrefix, 'pod sandbox');
  }

  private visible(): Map<string, PodRecord> {
    const out = new Map<string, PodRecord>();
    for (const [id, pod] of this.pods) if (pod.lifecycle.phase !== 'creating') out.set(id, pod);
    return out;
  }

  list(filter: PodFilter = {}): PodRecord[] {
    return [...this.visible().values()].filter((p) =>
      (!filter.id || p.id.startsWith(filter.id)) && (!filter.state || p.state === filter.state) && matchesLabels(p.labels, filter.labelSelector));
  }

  /** RunPodSandbox: returns the new pod's ID once it is ready; on failure nothing is left behind. */
  async run(req: RunPodSandboxRequest__Output, parentLog: Logger): Promise<string> {
    const plan = planPod(req, this.deps.config);
    // On a first start the handler's probe may still run: what it finds decides this pod.
    await this.deps.runtimeHandlers.known(plan.runtimeHandler);
    const handler = this.deps.runtimeHandlers.require(plan.runtimeHandler);
    if (plan.userNamespace && !handler.features.userNamespaces) {
      throw new FailedPreconditionError(`runtime handler "${handler.name}" cannot run pods in a user namespace on this node: ${handler.usernsProblem}`);
    }
    const key = nameKey(plan.metadata);
    const existing = this.names.get(key);
    if (existing) throw new AlreadyExistsError(`pod sandbox name "${key}" is reserved by pod ${existing}`);
    const id = newId();
    this.names.set(key, id);
    const log = parentLog.child({ pod: id });
    let pod: PodRecord;
    try {
      pod = this.newRecord(id, plan);
    } catch (err) {
      this.names.delete(key);
      throw err;
    }
    return this.mutex.run(id, async () => {
      this.pods.set(id, pod);
      const timings: Timings = {};
      const started = performance.now();
      try {
        this.table.put(pod);
        // On disk before the network and namespaces exist: a power loss leaves no pod (and
        // no IP lease) that no record names.
        await this.deps.store.durable();
        await this.steps.setUp(pod, plan, timings);
        failpoint('sandbox.run.before-ready');
      } catch (err) {
        log.warn({ err: messageOf(err) }, 'RunPodSandbox failed; undoing');
        try {
          await this.steps.teardown(pod, log);
          this.table.delete(id);
          this.pods.delete(id);
          this.names.delete(key);
        } catch (undoErr) {
          log.error({ err: messageOf(undoErr) }, 'could not undo a failed RunPodSandbox; the pod stays NOTREADY for removal');
          pod.lifecycle.phase = 'stopped';
          pod.state = 'SANDBOX_NOTREADY';
          this.table.put(pod);
        }
        throw err;
      }
      pod.lifecycle.phase = 'ready';
      pod.state = 'SANDBOX_READY';
      this.table.put(pod);
      log.info({ ips: pod.ips, ms: Math.round(performance.now() - started), steps: timings }, 'pod sandbox ready');
      return id;
    });
  }

  private newRecord(id: string, plan: PodPlan): PodRecord {
    const { config } = this.deps;
    const { network, ipc, pid } = plan.namespaceOptions;
    const cgroup = podCgroupPath(config.cgroup_driver, plan.config.linux?.cgroup_parent ?? '', id);
    const podDir = this.deps.paths.podDir(id);
    const sc = plan.config.linux?.security_context ?? null;
    return {
      id,
      metadata: plan.metadata,
      state: 'SANDBOX_NOTREADY',
      createdAt: nowNanos().toString(),
      labels: plan.config.labels,
      annotations: plan.config.annotations,
      runtimeHandler: plan.runtimeHandler,
      namespaceOptions: plan.namespaceOptions,
      namespacePaths: this.namespaceFiles(id, { net: network !== 'NODE', ipc: ipc !== 'NODE', uts: network !== 'NODE', pid: pid === 'POD', user: !!plan.userNamespace }),
      ...(plan.userNamespace ? { userNamespace: plan.userNamespace } : {}),
      cgroupParent: cgroup.parent,
      cgroupPath: cgroup.path,
      hostname: plan.hostname,
      hostnamePath: join(podDir, 'hostname'),
      resolvConfPath: join(podDir, 'resolv.conf'),
      hostsPath: join(podDir, 'hosts'),
      shmPath: ipc === 'NODE' ? undefined : join(podDir, 'shm'),
      logDirectory: plan.config.log_directory,
      ips: [],
      portMappings: plan.portMappings,
      privileged: sc?.privileged ?? false,
      sysctls: plan.config.linux?.sysctls ?? {},
      supplementalGroups: sc?.supplemental_groups ?? [],
      securityContext: sc,
      config: plan.config,
      lifecycle: {
        phase: 'creating',
        podDir,
        // Set before ADD runs so a crash during it still leads to a DEL.
        networkAttached: network !== 'NODE',
        cgroupCreated: this.deps.cgroups.missing(cgroup.path),
      },
    };
  }

  /** The files a pod's namespaces are pinned to (only the kinds it gets its own of). */
  private namespaceFiles(podId: string, own: Record<PinnedKind, boolean>): PodRecord['namespacePaths'] {
    const files: PodRecord['namespacePaths'] = {};
    for (const kind of ['user', 'net', 'ipc', 'uts', 'pid'] as const) if (own[kind]) files[kind] = this.deps.paths.namespaceFile(podId, kind);
    return files;
  }

  /**
   * StopPodSandbox: containers, the infra process, CNI DEL (retried), /dev/shm. An unknown ID
   * is already stopped. A DEL that keeps failing leaves the pod NOTREADY and the error
   * answered, and the next stop tries again.
   */
  async stop(idOrPrefix: string, log: Logger): Promise<void> {
    const pod = this.find(idOrPrefix);
    if (!pod) return;
    await this.mutex.run(pod.id, () => this.stopLocked(pod, log.child({ pod: pod.id })));
  }

  private find(idOrPrefix: string): PodRecord | undefined {
    try {
      return this.get(idOrPrefix);
    } catch (err) {
      if (isRuntimeError(err) && err.kind === 'not_found') return undefined;
      throw err;
    }
  }

  private async stopLocked(pod: PodRecord, log: Logger): Promise<void> {
    if (!this.pods.has(pod.id)) return;
    await this.deps.containers.stopPodContainers(pod.id);
    if (pod.namespacePaths.pid) await stopInfra(pod.namespacePaths.pid);
    pod.lifecycle.infraPid = undefined;
    if (pod.state === 'SANDBOX_READY') {
      pod.state = 'SANDBOX_NOTREADY';
      pod.lifecycle.phase = 'stopped';
      this.table.put(pod);
    }
    // The network and /dev/shm do not depend on each other: tear both down at once.
    const [network, shm] = await Promise.allSettled([
      pod.lifecycle.networkAttached ? this.steps.detachNetwork(pod, log) : undefined,
      pod.shmPath ? unmountAll([pod.shmPath]) : undefined,
    ]);
    if (network.status === 'rejected') throw network.reason;
    if (pod.lifecycle.networkAttached) failpoint('sandbox.stop.after-network-detach');
    if (pod.lifecycle.networkAttached) {
      pod.lifecycle.networkAttached = false;
      this.table.put(pod);
    }
    if (shm.status === 'rejected') throw shm.reason;
    log.info('pod sandbox stopped');
  }

  /** RemovePodSandbox: stops if needed, then removes containers, namespaces, cgroup, files and the record. */
  async remove(idOrPrefix: string, log: Logger): Promise<void> {
    const pod = this.find(idOrPrefix);
    if (!pod) return;
    await this.mutex.run(pod.id, async () => {
      if (!this.pods.has(pod.id)) return;
      const podLog = log.child({ pod: pod.id });
      await this.stopLocked(pod, podLog);
      await this.deps.containers.removePodContainers(pod.id);
      failpoint('sandbox.remove.after-containers-removed');
      await this.steps.teardown(pod, podLog, true);
      this.table.delete(pod.id);
      this.pods.delete(pod.id);
      if (this.names.get(nameKey(pod.metadata)) === pod.id) this.names.delete(nameKey(pod.metadata));
      podLog.info('pod sandbox removed');
    });
  }

  /**
   * At daemon stop: the private mount of the namespace directory goes once no pod has a
   * namespace pinned below it (a pod that lives on keeps it, and the next start finds it).
   */
  async close(): Promise<void> {
    const { nsDir } = this.deps.paths;
    if (mountPoints().has(nsDir) && mountsBelow(nsDir).length === 0) await unmount(nsDir, { lazyFallback: true });
  }

  /** UpdatePodSandboxResources: the pod cgroup's limits change in place, serialized with the pod's stop and removal. */
  async updateResources(idOrPrefix: string, update: PodResources, log: Logger): Promise<void> {
    const pod = this.get(idOrPrefix);
    await this.mutex.run(pod.id, async () => {
      if (!this.pods.has(pod.id)) throw new NotFoundError(`pod sandbox ${pod.id} was removed`);
      pod.resources = resizePodCgroup(this.deps.cgroups, pod, update);
      this.table.put(pod);
    });
    log.child({ pod: pod.id }).info({ resources: pod.resources }, 'pod sandbox resources updated');
  }

  /** The pod cgroup's CPU and memory settings as the kernel reports them. */
  cgroupLimits(pod: PodRecord): Record<string, string> {
    return podCgroupLimits(this.deps.cgroups, pod.cgroupPath);
  }

  /** The pod CIDR kubelet hands over (UpdateRuntimeConfig), kept for the network setup and restarts. */
  setPodCidr(cidr: string): void {
    this.deps.store.setSetting('pod_cidr', cidr);
  }

  podCidr(): string {
    return this.deps.store.setting('pod_cidr') ?? '';
  }
}
