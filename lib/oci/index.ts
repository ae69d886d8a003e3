export type { OciRuntime, ContainerCreateRequest, PendingCreateRequest, ContainerRestoreRequest, RuntimeState, ExitStatus, ExecRequest, ExecSyncRequest, ExecSyncResult } from './runtime.js';
export { RuntimeHandlers, type HandlerInfo, type HandlerFeatures, type HandlerPolicy, type RuntimeHandlersOptions } from './runtime-handlers.js';
export type { ExecProcess, ExecOutcome, TerminalSize } from './exec.js';
export type { Attachment } from './attach.js';
export { descendants, killTree } from './process-tree.js';
export type * from './types.js';
export type { CheckpointRequest } from './checkpoint.js';
export { checkpointSupportCache, probeCheckpointSupport, programWords, type CheckpointSupport } from './criu.js';
