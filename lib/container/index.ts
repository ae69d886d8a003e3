export { ContainerService, type ContainerServiceDeps, type ContainerFilter, type ContainerEventSink } from './service.js';
export type { ContainerRecord, ContainerStateName } from './record.js';
export { buildSpec, type SpecInput, type SpecResult, type RuntimeDefaults } from './spec/index.js';
export { loadRuntimeDefaults, bundlesDir } from './defaults.js';
