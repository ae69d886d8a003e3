export { SandboxService, type PodContainersHook, type PodFilter, type SandboxDeps } from './service.js';
export type { NamespaceMode, PodLifecycle, PodPortMapping, PodRecord, PodResources, PodState } from './record.js';
export { currentPodResources } from './resize.js';
export { checkRuntimeHandler } from './request.js';
export { CniNetwork, type CniOptions } from './network/index.js';
