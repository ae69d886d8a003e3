import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupManager } from '../cgroups/index.js';
import { fromCri, podCgroupPath, podResources } from '../cgroups/index.js';
import type { Config } from '../config/index.js';
import { InternalError, RuntimeError, UnavailableError, AlreadyExistsError, FailedPreconditionError, NotFoundError, messageOf, isRuntimeError } from '../errors/index.js';
import type { RunPodSandboxRequest__Output } from '../generated/runtime/v1/RunPodSandboxRequest.js';
import type { Logger } from '../log/index.js';
import type { RecordTable, StateStore } from '../state/index.js';
import { newId, resolveIdPrefix, matchesLabels } from '../util/ids.js';
import { nowNanos } from '../util/time.js';
import { hostsFile, readHostFile, resolvConf, writePodFile } from './files.js';
import { startInfra, stopInfra, processesIn } from './infra.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { ensurePrivateMount, mountPoints, mountTmpfs, pinUserNamespace, unmountAll, unpinNamespaces } from '../mount/index.js';
import { setUpPodNamespaces } from './namespaces.js';
import type { Paths, PinnedKind } from '../paths/index.js';
import type { CniNetwork, PodNetworkRequest } from './network/index.js';
import type { PodRecord, PodResources, PodState } from './record.js';
import { podCgroupLimits, resizePodCgroup } from './resize.js';
import { nameKey, planPod, type PodPlan } from './request.js';
import { applySysctls } from './sysctl.js';
import type { RuntimeHandlers } from '../oci/index.js';

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
  /** Whether the pod's handler can run here (and run user-namespaced pods). */
  handlers?: Pick<RuntimeHandlers, 'require'>;
}

export interface PodFilter {
  id?: string;
  state?: PodState;
  labelSelector?: Record<string, string>;
}

const SHM_BYTES = 64 * 1024 * 1024;
const DEL_ATTEMPTS = 3;

/** A step of RunPodSandbox failed: the error names it and keeps the cause's kind (and so its gRPC code). */
function stepError(step: string, err: unknown): RuntimeError {
  return new RuntimeError(isRuntimeError(err) ? err.kind : 'internal', `${step}: ${messageOf(err)}`, { cause: err });
}

/** Step durations of one RunPodSandbox, logged with its outcome: where the time went. */
type Timings = Record<string, number>;

async function step<T>(name: string, fn: () => Promise<T> | T, timings?: Timings): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } catch (err) {
    throw stepError(name, err);
  } finally {
    if (timings) timings[name] = Math.round((performance.now() - started) * 100) / 100;
  }
}

/**
 * Pod sandboxes: their lifecycle, durable records and the in-memory index every List/Status
 * reads. Each pod's operations are serialized; different pods proceed in parallel.
 */
export class SandboxService {
  private readonly pods = new Map<string, PodRecord>();
  private readonly names = new Map<string, string>();
  private readonly mutex = new KeyedMutex();
  private readonly table: RecordTable<PodRecord>;

  constructor(private readonly deps: SandboxDeps) {
    this.table = deps.store.table<PodRecord>('pods');
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
    const toCheck: PodRecord[] = [];
    for (const pod of this.table.all()) {
      const log = this.deps.log.child({ pod: pod.id });
      if (pod.lifecycle.phase === 'creating') {
        try {
          await waitForOrphans(pod.id);
          await this.teardown(pod, log);
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
        const infraGone = !!pod.namespacePaths.pid && processesIn(pod.namespacePaths.pid).length === 0;
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
    await this.checkNetworks(toCheck);
  }

  /** CNI CHECK of the pods that survived a restart, a few at a time; a failed check makes the pod NOTREADY. */
  private async checkNetworks(pods: PodRecord[]): Promise<void> {
    const queue = [...pods];
    const worker = async () => {
      for (let pod = queue.shift(); pod; pod = queue.shift()) {
        try {
          await this.deps.network.check(this.networkRequest(pod));
        } catch (err) {
          this.deps.log.warn({ pod: pod.id, err: messageOf(err) }, 'CNI CHECK failed after restart; the pod is NOTREADY');
          pod.state = 'SANDBOX_NOTREADY';
          this.table.put(pod);
        }
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
    const handler = this.deps.handlers?.require(plan.runtimeHandler);
    if (handler && plan.userNamespace && !handler.features.userNamespaces) {
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
        await this.setUp(pod, plan, timings);
      } catch (err) {
        log.warn({ err: messageOf(err) }, 'RunPodSandbox failed; undoing');
        try {
          await this.teardown(pod, log);
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

  /** The steps of RunPodSandbox; the network side and the local side run side by side. */
  private async setUp(pod: PodRecord, plan: PodPlan, timings: Timings): Promise<void> {
    const paths = pod.namespacePaths;
    mkdirSync(pod.lifecycle.podDir, { recursive: true, mode: 0o755 });
    const networkSide = async () => {
      if (paths.user && plan.userNamespace) {
        await step('creating namespaces', () => pinUserNamespace({ user: paths.user!, net: paths.net, ipc: paths.ipc, uts: paths.uts }, plan.userNamespace!, plan.hostname), timings);
        await step('applying sysctls', () => applySysctls(plan.sysctls, paths), timings);
      } else {
        // The setup step inside the new namespaces writes the sysctls too.
        await step('creating namespaces', () => setUpPodNamespaces(paths, plan.hostname, plan.sysctls.writes), timings);
      }
      const [attachment] = await Promise.all([
        paths.net ? step('CNI ADD', () => this.deps.network.attach(this.networkRequest(pod)), timings) : undefined,
        paths.pid ? step('starting the infra process', async () => { pod.lifecycle.infraPid = await startInfra(paths); }, timings) : undefined,
      ]);
      if (attachment) {
        pod.ips = attachment.ips;
        pod.lifecycle.networkName = attachment.networkName;
      }
    };
    const localSide = async () => {
      await step('creating the pod cgroup', () => {
        const linux = plan.config.linux;
        this.deps.cgroups.create(pod.cgroupPath);
        this.deps.cgroups.apply(pod.cgroupPath, podResources(fromCri(linux?.resources), fromCri(linux?.overhead)));
      }, timings);
      if (pod.shmPath) {
        const shm = pod.shmPath;
        mkdirSync(shm, { recursive: true });
        await step('mounting /dev/shm', () => mountTmpfs(shm, 'shm', `rw,nosuid,nodev,noexec,mode=1777,size=${SHM_BYTES}`), timings);
      }
      await step('writing pod files', () => {
        writePodFile(pod.hostnamePath, `${plan.hostname}\n`);
        writePodFile(pod.resolvConfPath, resolvConf(plan.config.dns_config, () => readHostFile('/etc/resolv.conf')));
        if (pod.logDirectory) mkdirSync(pod.logDirectory, { recursive: true, mode: 0o755 });
      });
    };
    const results = await Promise.allSettled([networkSide(), localSide()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await step('writing pod files', () => {
      writePodFile(pod.hostsPath, paths.net ? hostsFile(plan.hostname, pod.ips) : readHostFile('/etc/hosts'));
    });
  }

  private networkRequest(pod: PodRecord): PodNetworkRequest {
    return {
      podId: pod.id,
      name: pod.metadata.name,
      namespace: pod.metadata.namespace,
      uid: pod.metadata.uid,
      netns: pod.namespacePaths.net ?? '',
      portMappings: pod.portMappings.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol.toLowerCase(), hostIP: p.hostIp })),
      annotations: pod.annotations,
    };
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
      pod.lifecycle.networkAttached ? this.detachNetwork(pod, log) : undefined,
      pod.shmPath ? unmountAll([pod.shmPath]) : undefined,
    ]);
    if (network.status === 'rejected') throw network.reason;
    if (pod.lifecycle.networkAttached) {
      pod.lifecycle.networkAttached = false;
      this.table.put(pod);
    }
    if (shm.status === 'rejected') throw shm.reason;
    log.info('pod sandbox stopped');
  }

  private async detachNetwork(pod: PodRecord, log: Logger): Promise<void> {
    const netnsPresent = !!pod.namespacePaths.net && mountPoints().has(pod.namespacePaths.net);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.network.detach(this.networkRequest(pod), netnsPresent);
        return;
      } catch (err) {
        if (attempt >= DEL_ATTEMPTS) throw new UnavailableError(`CNI DEL of pod ${pod.id} failed ${attempt} times: ${messageOf(err)}`, { cause: err });
        log.warn({ err: messageOf(err), attempt }, 'CNI DEL failed; retrying');
        await sleep(100 * attempt);
      }
    }
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
      await this.teardown(pod, podLog);
      this.table.delete(pod.id);
      this.pods.delete(pod.id);
      if (this.names.get(nameKey(pod.metadata)) === pod.id) this.names.delete(nameKey(pod.metadata));
      podLog.info('pod sandbox removed');
    });
  }

  /** Undoes every step RunPodSandbox may have taken, in reverse; each is a no-op when its step never ran. */
  private async teardown(pod: PodRecord, log: Logger): Promise<void> {
    if (pod.namespacePaths.pid) await stopInfra(pod.namespacePaths.pid);
    if (pod.lifecycle.networkAttached) {
      await this.detachNetwork(pod, log);
      pod.lifecycle.networkAttached = false;
    }
    if (pod.shmPath) await unmountAll([pod.shmPath]);
    await unpinNamespaces(pod.namespacePaths);
    await this.deps.cgroups.remove(pod.cgroupPath, pod.lifecycle.cgroupCreated);
    rmSync(pod.lifecycle.podDir, { recursive: true, force: true });
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

/**
 * Processes a killed daemon left working for a pod (CNI plugins mid-ADD) would race its
 * cleanup: wait, bounded, until none carries the pod's CNI_CONTAINERID.
 */
async function waitForOrphans(podId: string): Promise<void> {
  const marker = `CNI_CONTAINERID=${podId}`;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    let busy = false;
    for (const entry of readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(marker)) {
          busy = true;
          break;
        }
      } catch {
        // exited or not ours to read
      }
    }
    if (!busy) return;
    await sleep(50);
  }
  throw new InternalError(`CNI plugins of pod ${podId} are still running after 15 s`);
}
