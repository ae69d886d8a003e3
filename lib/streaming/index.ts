export { StreamingService, type StreamContainer, type StreamPod, type StreamingLookups, type StreamingServiceOptions } from './service.js';
export { streamingLookups } from './lookups.js';
export type { CommandRequest } from './command-streams.js';
