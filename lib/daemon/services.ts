import type { Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { StateStore } from '../state/index.js';
import type { ContainerCreator, ContainerLifecycle, PodCheckpoints } from '../container/index.js';
import type { SandboxService } from '../sandbox/index.js';
import type { ImageService } from '../image/index.js';
import type { Storage } from '../storage/index.js';
import type { ContainerEventBus, MetricsRecorder, StatsService } from '../stats/index.js';
import type { LazyStreaming } from '../streaming/index.js';
import type { RuntimeHandlers } from '../oci/index.js';

export interface Condition {
  ready: boolean;
  reason: string;
  message: string;
}

/** Whether the pod network can be set up: the CNI config the daemon would use. */
export interface NetworkReadiness {
  status(): Condition;
}

/**
 * Everything the RPC handlers reach: built once at start by the daemon, one instance of each
 * concern. Handlers get it through their CallContext; nothing else imports the daemon.
 */
export interface Services {
  config: Config;
  /** runcri's own version, from package.json. */
  version: string;
  log: Logger;
  store: StateStore;
  /** The oom_score_adj floor containers are clamped to, when the kernel refuses lower. */
  oomRestriction: { restricted: boolean; own: number };
  runtimeReadiness(): Condition;
  network: NetworkReadiness;
  pods: SandboxService;
  images: ImageService;
  /** Containers from start to removal; also what takes a pod's containers along when it stops. */
  containers: ContainerLifecycle;
  /** CreateContainer. */
  containerCreator: ContainerCreator;
  /** CheckpointPod and RestorePod. */
  podCheckpoints: PodCheckpoints;
  /** Layer store and container root filesystems (overlay). */
  storage: Storage;
  /** Container and pod stats, pod metrics (lib/stats). */
  stats: StatsService;
  /** Container lifecycle events: the container service publishes, GetContainerEvents subscribes. */
  events: ContainerEventBus;
  /** The Prometheus registry every module records into. */
  metrics: MetricsRecorder;
  /** The configured runtime handlers, what each can do here, and their OCI runtime drivers. */
  runtimeHandlers: RuntimeHandlers;
  /** Exec, Attach and PortForward: the streaming server and its tokens (lib/streaming). */
  streaming: LazyStreaming;
}
