export { ContainerLifecycle, type ContainerLifecycleDeps, type ContainerFilter, type ContainerRuntimes } from './lifecycle.js';
export type { ContainerCreator, CreateSources } from './create.js';
export type { ContainerEventSink, ContainerEventType } from './events.js';
export type { ContainerRecord, ContainerStateName } from './record.js';
export { buildSpec, type SpecInput, type SpecResult, type RuntimeDefaults } from './spec/index.js';
export { loadRuntimeDefaults, bundlesDir } from './defaults.js';
export type { PodCheckpoints } from './pod-checkpoint.js';
