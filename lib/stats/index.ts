export { StatsService, type StatsDeps, type ContainerStatsFilter, type PodStatsFilter } from './service.js';
export { ContainerEventBus, EventSubscription, type ContainerEvent, type ContainerEventType, type DeliveredEvent, type EventSnapshot, type Snapshotter } from './events.js';
// The Prometheus side is loaded only when the endpoint is enabled (see recorder.ts).
export type { RuntimeMetrics } from './metrics.js';
export { noMetrics, type MetricsRecorder, type StateCounts } from './recorder.js';

export async function loadRuntimeMetrics(): Promise<import('./metrics.js').RuntimeMetrics> {
  const { RuntimeMetrics } = await import('./metrics.js');
  return new RuntimeMetrics();
}
export { startMetricsEndpoint, type MetricsEndpoint } from './metrics-server.js';
export { METRIC_GROUPS } from './pod-metrics.js';
export { containerStatsSource, type ContainerRecordView } from './container-source.js';
export type { ContainerSample, PodSample } from './sample.js';
export type { CgroupFiles, ContainerSource, PodSource, StatsContainer, StatsPod } from './sources.js';
