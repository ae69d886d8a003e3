export { OciRuntime, type OciRuntimeOptions, type CreateOptions, type RuntimeState, type ExecOptions, type ExecResult } from './runtime.js';
export { descendants, killTree } from './process-tree.js';
export type * from './types.js';
export { RuntimeHandlers, type HandlerInfo, type HandlerFeatures, type RuntimeHandlersOptions } from './handlers.js';
export { ExecProcess, execProcessSpec, type ExecTarget, type ExecSessionOptions, type ExecOutcome, type TerminalSize } from './exec-session.js';
