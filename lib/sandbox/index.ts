export { SandboxService, type PodContainersHook, type PodFilter, type SandboxDeps } from './service.js';
export type { NamespaceMode, PodLifecycle, PodPortMapping, PodRecord, PodState } from './record.js';
export { checkRuntimeHandler } from './request.js';
export { CniNetwork, type CniOptions } from './network/index.js';
