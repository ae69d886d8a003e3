import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { LinuxSandboxSecurityContext__Output } from '../generated/runtime/v1/LinuxSandboxSecurityContext.js';
import type { IdMappings } from '../mount/index.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type PodState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface PodPortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  containerPort: number;
  hostPort: number;
  hostIp: string;
}

/**
 * A pod sandbox as runcri keeps it (one JSON row of `pods`, the same object in memory). What
 * the container side reads is the stable part; `lifecycle` is the sandbox module's own.
 */
export interface PodRecord {
  id: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  state: PodState;
  /** Nanoseconds since the epoch, as a decimal string. */
  createdAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The handler name as requested ('' is the default handler). */
  runtimeHandler: string;
  namespaceOptions: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode; targetId: string };
  /** Pinned namespace files (bind mounts of nsfs), absent where the pod uses the node's. */
  namespacePaths: { net?: string; ipc?: string; uts?: string; pid?: string; user?: string };
  /** The pod's own user namespace (userns_options mode POD), which owns its other namespaces; absent: the node's. */
  userNamespace?: IdMappings;
  /** Where containers' cgroups go: a directory path (cgroupfs driver) or a slice name (systemd driver). */
  cgroupParent: string;
  /** The pod cgroup's directory below each hierarchy's root (`/kubepods/burstable/pod…`). */
  cgroupPath: string;
  hostname: string;
  hostnamePath: string;
  resolvConfPath: string;
  hostsPath: string;
  /** The pod's /dev/shm tmpfs; absent when IPC is the node's. */
  shmPath?: string;
  logDirectory: string;
  /** Pod IPs, primary (IPv4) first. */
  ips: string[];
  portMappings: PodPortMapping[];
  privileged: boolean;
  /** Applied to the pod's namespaces already; containers need not repeat them. */
  sysctls: Record<string, string>;
  supplementalGroups: string[];
  securityContext: LinuxSandboxSecurityContext__Output | null;
  /** The PodSandboxConfig exactly as RunPodSandbox received it. */
  config: PodSandboxConfig__Output;
  /**
   * The pod-level resources the pod cgroup was last set to, once an UpdatePodSandboxResources
   * changed them (absent: still those of `config.linux`).
   */
  resources?: PodResources;
  lifecycle: PodLifecycle;
}

/** Pod-level resources as CRI carries them: the containers' sum and the pod overhead. */
export interface PodResources {
  resources: LinuxContainerResources__Output | null;
  overhead: LinuxContainerResources__Output | null;
}

/** What the sandbox has set up, so teardown (and recovery after a crash) undoes only that. */
export interface PodLifecycle {
  /** `creating` until RunPodSandbox finished: a pod found so after a restart is torn down. */
  phase: 'creating' | 'ready' | 'stopped';
  /** The directory holding hostname, resolv.conf, hosts and shm. */
  podDir: string;
  /** CNI ADD may have happened and no DEL has succeeded since. */
  networkAttached: boolean;
  networkName?: string;
  /** cgroup directories RunPodSandbox made (shallowest first); only these are removed. */
  cgroupCreated: string[];
  /** The pod's infra process (PID 1 of the pod's PID namespace), while it runs. */
  infraPid?: number;
  /** The infra process is (or may be, set before it is made) a container of `runtime.infra_image`, removed at teardown. */
  infraContainer?: boolean;
}
