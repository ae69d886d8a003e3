export type { StreamingService, StreamContainer, StreamPod, StreamingLookups, StreamingServiceOptions } from './service.js';
export { LazyStreaming } from './lazy.js';
export { streamingLookups } from './lookups.js';
export type { CommandRequest } from './command-streams.js';
