export { ImageService, type ImageServiceDeps } from './service.js';
export type { ImageRecord, ImageRuntimeConfig, RegistryAuth, FsUsage } from './types.js';
export { authFromCri } from './credentials.js';
export { parseReference, tryParseReference, formatReference, repositoryName, type ImageReference } from './reference.js';
