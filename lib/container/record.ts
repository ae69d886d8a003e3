import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { Mount__Output } from '../generated/runtime/v1/Mount.js';
import type { ImageVolumeUse } from './image-volumes.js';
import type { EffectiveUser } from './spec/index.js';

export type ContainerStateName = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

/**
 * A container as runcri keeps it: one JSON row of `containers`, the same object in memory.
 * Times are nanoseconds since the epoch as decimal strings ('0' when not yet).
 */
export interface ContainerRecord {
  id: string;
  podId: string;
  metadata: { name: string; attempt: number };
  /** `creating` until CreateContainer finished: one found so after a restart is undone. */
  phase: 'creating' | 'ready';
  state: ContainerStateName;
  /** The image as the request named it, and what it resolved to. */
  image: string;
  imageRef: string;
  imageId: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  reason: string;
  message: string;
  /** The container's init PID on the host, while it may be running. */
  pid: number;
  logPath: string;
  /** Runtime handler name ('' is the default). */
  runtimeHandler: string;
  /** The container's own directory, kept across reboots: image volumes, the default log, its runtime's records. */
  containerDir: string;
  mounts: Mount__Output[];
  /** Host paths of the request's slave/shared mounts, made shared mounts for this container. */
  propagatedSources?: string[];
  /** Those of them this container bind-mounted onto themselves (undone when no container needs them). */
  madeShared?: string[];
  /** The images mounted as volumes (`Mount.image`): they count as in use while the container exists. */
  imageVolumes?: ImageVolumeUse[];
  /** The checkpoint archive the container was created from. */
  restoredFrom?: string;
  /** Its processes come back from the checkpoint at StartContainer; until then nothing of it runs. */
  restorePending?: boolean;
  resources: LinuxContainerResources__Output | null;
  user: EffectiveUser;
  stopSignal: string;
  tty: boolean;
  stdin: boolean;
}
