export { OciRuntime, type OciRuntimeOptions, type CreateOptions, type RuntimeState, type ExecOptions, type ExecResult } from './runtime.js';
export { descendants, killTree } from './process-tree.js';
export type * from './types.js';
