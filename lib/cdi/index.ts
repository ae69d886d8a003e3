import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { Device__Output } from '../generated/runtime/v1/Device.js';
import { CdiRegistry } from './registry.js';
import { cdiRequestOf, resolveCdiDevices } from './resolve.js';
import type { CdiEdits } from './types.js';

export { CdiRegistry, type CdiView, type LoadedDevice } from './registry.js';
export { cdiRequestOf, resolveCdiDevices, CDI_ANNOTATION_PREFIX, type CdiRequest } from './resolve.js';
export { parseSpecFile, decodeSpec, minimumVersion, CDI_VERSIONS, CdiSpecError } from './spec.js';
export { isQualifiedName, parseQualifiedName, parseKind } from './names.js';
export { parseYaml, PlainScalar, YamlError, type YamlValue } from './yaml.js';
export type * from './types.js';

const registries = new Map<string, CdiRegistry>();

/** One registry per set of spec directories, so parsed files are reused across creates. */
export function cdiRegistry(dirs: readonly string[]): CdiRegistry {
  const key = JSON.stringify(dirs);
  let registry = registries.get(key);
  if (!registry) {
    registry = new CdiRegistry(dirs);
    registries.set(key, registry);
  }
  return registry;
}

/**
 * What CreateContainer needs from CDI: the edits of every CDI device the request names (any
 * unknown one is INVALID_ARGUMENT naming it), and the request's devices that are plain host paths.
 */
export function resolveCdiRequest(config: ContainerConfig__Output, specDirs: readonly string[]): { edits: CdiEdits; hostDevices: Device__Output[] } {
  const request = cdiRequestOf(config);
  return { edits: resolveCdiDevices(cdiRegistry(specDirs), request.names), hostDevices: request.hostDevices };
}
