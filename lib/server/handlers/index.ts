/**
 * The RPC table: CRI method name → handler. A method missing here answers UNIMPLEMENTED.
 * One file per RPC, named <object>-<verb>.ts.
 */
import type { StreamHandler, UnaryHandler } from '../context.js';
import { runtimeVersion } from './runtime-version.js';
import { containerExec } from './container-exec.js';
import { containerAttach } from './container-attach.js';
import { podPortForward } from './pod-port-forward.js';
import { runtimeStatus } from './runtime-status.js';
import { runtimeConfig } from './runtime-config.js';
import { podRun } from './pod-run.js';
import { podStop } from './pod-stop.js';
import { podUpdateResources } from './pod-update-resources.js';
import { podRemove } from './pod-remove.js';
import { podStatus } from './pod-status.js';
import { podList } from './pod-list.js';
import { runtimeUpdateConfig } from './runtime-update-config.js';
import { imagePull } from './image-pull.js';
import { imageList } from './image-list.js';
import { imageStatus } from './image-status.js';
import { imageRemove } from './image-remove.js';
import { imageFsInfo } from './image-fs-info.js';
import { containerStats } from './container-stats.js';
import { containerStatsList } from './container-stats-list.js';
import { podStats } from './pod-stats.js';
import { podStatsList } from './pod-stats-list.js';
import { metricDescriptorsList } from './metric-descriptors-list.js';
import { podMetricsList } from './pod-metrics-list.js';
import { containerEvents } from './container-events.js';
import { containerCreate } from './container-create.js';
import { containerStart } from './container-start.js';
import { containerStop } from './container-stop.js';
import { containerRemove } from './container-remove.js';
import { containerList } from './container-list.js';
import { containerStatus } from './container-status.js';
import { containerUpdate } from './container-update.js';
import { containerReopenLog } from './container-reopen-log.js';
import { execSync } from './exec-sync.js';
import { containerStream } from './container-stream.js';
import { podStream } from './pod-stream.js';
import { containerStatsStream } from './container-stats-stream.js';
import { podStatsStream } from './pod-stats-stream.js';
import { podMetricsStream } from './pod-metrics-stream.js';
import { imageStream } from './image-stream.js';
import { containerCheckpoint } from './container-checkpoint.js';
import { podCheckpoint } from './pod-checkpoint.js';
import { podRestore } from './pod-restore.js';

// Handlers are typed per file; the table erases the message types for registration.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyUnary = UnaryHandler<any, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStream = StreamHandler<any, any>;

export const runtimeServiceHandlers: Record<string, AnyUnary> = {
  Version: runtimeVersion,
  Status: runtimeStatus,
  RuntimeConfig: runtimeConfig,
  RunPodSandbox: podRun,
  StopPodSandbox: podStop,
  RemovePodSandbox: podRemove,
  PodSandboxStatus: podStatus,
  UpdatePodSandboxResources: podUpdateResources,
  ListPodSandbox: podList,
  UpdateRuntimeConfig: runtimeUpdateConfig,
  ContainerStats: containerStats,
  ListContainerStats: containerStatsList,
  PodSandboxStats: podStats,
  ListPodSandboxStats: podStatsList,
  ListMetricDescriptors: metricDescriptorsList,
  ListPodSandboxMetrics: podMetricsList,
  CreateContainer: containerCreate,
  StartContainer: containerStart,
  StopContainer: containerStop,
  RemoveContainer: containerRemove,
  ListContainers: containerList,
  ContainerStatus: containerStatus,
  UpdateContainerResources: containerUpdate,
  ReopenContainerLog: containerReopenLog,
  CheckpointContainer: containerCheckpoint,
  CheckpointPod: podCheckpoint,
  RestorePod: podRestore,
  ExecSync: execSync,
  Exec: containerExec,
  Attach: containerAttach,
  PortForward: podPortForward,
};

export const runtimeServiceStreams: Record<string, AnyStream> = {
  GetContainerEvents: containerEvents,
  StreamPodSandboxes: podStream,
  StreamContainers: containerStream,
  StreamContainerStats: containerStatsStream,
  StreamPodSandboxStats: podStatsStream,
  StreamPodSandboxMetrics: podMetricsStream,
};

export const imageServiceHandlers: Record<string, AnyUnary> = {
  PullImage: imagePull,
  ListImages: imageList,
  ImageStatus: imageStatus,
  RemoveImage: imageRemove,
  ImageFsInfo: imageFsInfo,
};

export const imageServiceStreams: Record<string, AnyStream> = {
  StreamImages: imageStream,
};
