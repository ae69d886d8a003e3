export { StatsService, type StatsDeps, type ContainerStatsFilter, type PodStatsFilter } from './service.js';
export { ContainerEventBus, EventSubscription, type ContainerEvent, type ContainerEventType, type DeliveredEvent, type EventSnapshot, type Snapshotter } from './events.js';
export { RuntimeMetrics, type StateCounts } from './metrics.js';
export { startMetricsEndpoint, type MetricsEndpoint } from './metrics-server.js';
export { METRIC_GROUPS } from './pod-metrics.js';
export { containerStatsSource, type ContainerRecordView } from './container-source.js';
export type { CgroupFiles, ContainerSource, PodSource, StatsContainer, StatsPod } from './sources.js';
