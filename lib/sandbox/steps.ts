import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupManager } from '../cgroups/index.js';
import { fromCri, podResources } from '../cgroups/index.js';
import type { Config } from '../config/index.js';
import { InternalError, RuntimeError, UnavailableError, isRuntimeError, messageOf } from '../errors/index.js';
import { failpoint } from '../failpoints/index.js';
import type { ImageService } from '../image/index.js';
import type { Logger } from '../log/index.js';
import { isPinnedNamespace, mountTmpfs, pinUserNamespace, unmountAll, unpinNamespaces } from '../mount/index.js';
import type { RuntimeHandlers } from '../oci/index.js';
import type { Paths } from '../paths/index.js';
import type { Storage } from '../storage/index.js';
import { hostsFile, readHostFile, resolvConf, writePodFile } from './files.js';
import { InfraContainers } from './infra-container.js';
import { setUpPodNamespaces } from './namespaces.js';
import { startInfra, stopInfra } from './infra.js';
import type { CniNetwork, PodNetworkRequest } from './network/index.js';
import type { PodRecord } from './record.js';
import type { PodPlan } from './request.js';
import { applySysctls } from './sysctl.js';

export interface PodStepsDeps {
  config: Config;
  paths: Paths;
  log: Logger;
  network: CniNetwork;
  cgroups: CgroupManager;
  runtimeHandlers: Pick<RuntimeHandlers, 'runtime'>;
  images: Pick<ImageService, 'resolve' | 'pull'>;
  storage: Pick<Storage, 'createContainerRootfs' | 'removeContainerRootfs'>;
  /** Writes the pod's record, so a crash between steps leaves what is needed to undo them. */
  persist(pod: PodRecord): void;
}

const SHM_BYTES = 64 * 1024 * 1024;
const DEL_ATTEMPTS = 3;

/** A step of RunPodSandbox failed: the error names it and keeps the cause's kind (and so its gRPC code). */
function stepError(step: string, err: unknown): RuntimeError {
  return new RuntimeError(isRuntimeError(err) ? err.kind : 'internal', `${step}: ${messageOf(err)}`, { cause: err });
}

/** Step durations of one RunPodSandbox, logged with its outcome: where the time went. */
export type Timings = Record<string, number>;

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
 * What RunPodSandbox sets up on the node and what StopPodSandbox and RemovePodSandbox (and
 * recovery after a crash) undo: namespaces, sysctls, the network, the infra process, the
 * cgroup, /dev/shm and the pod's files. The sandbox service orders and locks them.
 */
export class PodSteps {
  private readonly infra: InfraContainers;

  constructor(private readonly deps: PodStepsDeps) {
    this.infra = new InfraContainers({
      image: deps.config.runtime.infra_image, images: deps.images, storage: deps.storage, runtimeOf: (handler) => deps.runtimeHandlers.runtime(handler),
      paths: deps.paths, cgroupDriver: deps.config.cgroup_driver, log: deps.log.child({ module: 'infra' }),
    });
  }

  /** The steps of RunPodSandbox; the network side and the local side run side by side. */
  async setUp(pod: PodRecord, plan: PodPlan, timings: Timings): Promise<void> {
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
      failpoint('sandbox.run.after-netns-pin');
      // Both end before a failure of either is thrown: an undo that ran while CNI ADD was
      // still going would DEL first and leave what the ADD made after (portmap's rules).
      const [network, infra] = await Promise.allSettled([
        paths.net ? step('CNI ADD', async () => {
          const attached = await this.deps.network.attach(this.networkRequest(pod));
          failpoint('sandbox.run.after-cni-add');
          return attached;
        }, timings) : undefined,
        paths.pid ? step('starting the infra process', () => this.startInfra(pod), timings) : undefined,
      ]);
      if (network.status === 'rejected') throw network.reason;
      if (infra.status === 'rejected') throw infra.reason;
      const attachment = network.value;
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
        failpoint('sandbox.run.after-cgroup-create');
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

  /**
   * PID 1 of a pod-wide PID namespace: a container of `runtime.infra_image` when that is set,
   * else the built-in catatonit. A user-namespaced pod gets catatonit either way: its root
   * filesystem would need an ID-mapped view of the image.
   */
  private async startInfra(pod: PodRecord): Promise<void> {
    const paths = pod.namespacePaths;
    if (this.deps.config.runtime.infra_image && !paths.user) {
      pod.lifecycle.infraContainer = true;
      this.deps.persist(pod);
      pod.lifecycle.infraPid = await this.infra.start(pod, paths.pid!);
    } else {
      pod.lifecycle.infraPid = await startInfra(paths);
    }
    failpoint('sandbox.run.after-infra-start');
  }

  networkRequest(pod: PodRecord): PodNetworkRequest {
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

  async detachNetwork(pod: PodRecord, log: Logger): Promise<void> {
    const netnsPresent = !!pod.namespacePaths.net && isPinnedNamespace(pod.namespacePaths.net);
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

  /**
   * Undoes every step RunPodSandbox may have taken, in reverse; each is a no-op when its step
   * never ran. `removal`: RemovePodSandbox's teardown (not the undoing of a failed or
   * interrupted RunPodSandbox), where its failpoint sits.
   */
  async teardown(pod: PodRecord, log: Logger, removal = false): Promise<void> {
    if (pod.namespacePaths.pid) await stopInfra(pod.namespacePaths.pid);
    if (pod.lifecycle.infraContainer) {
      // Removed before the pod's cgroup: its own cgroup lies below it.
      await this.infra.remove(pod);
      pod.lifecycle.infraContainer = false;
    }
    if (pod.lifecycle.networkAttached) {
      await this.detachNetwork(pod, log);
      pod.lifecycle.networkAttached = false;
    }
    if (pod.shmPath) await unmountAll([pod.shmPath]);
    await unpinNamespaces(pod.namespacePaths);
    if (removal) failpoint('sandbox.remove.after-namespaces-unpinned');
    await this.deps.cgroups.remove(pod.cgroupPath, pod.lifecycle.cgroupCreated);
    rmSync(pod.lifecycle.podDir, { recursive: true, force: true });
  }
}

/**
 * Processes a killed daemon left working for a pod (CNI plugins mid-ADD) would race its
 * cleanup: wait, bounded, until none carries the pod's CNI_CONTAINERID.
 */
export async function waitForOrphans(podId: string): Promise<void> {
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
