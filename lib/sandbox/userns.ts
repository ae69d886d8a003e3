import { InvalidArgumentError } from '../errors/index.js';
import type { IDMapping__Output } from '../generated/runtime/v1/IDMapping.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { IdMapping, IdMappings } from '../mount/index.js';

/** The highest ID a uid_map/gid_map line may reach (IDs are 32-bit; 2^32-1 is "no ID"). */
const ID_LIMIT = 2 ** 32 - 1;

function mapping(m: IDMapping__Output, what: string): IdMapping {
  const { container_id: containerId, host_id: hostId, length: size } = m;
  if (!Number.isInteger(size) || size <= 0) throw new InvalidArgumentError(`userns_options.${what}: length must be positive`);
  if (containerId + size > ID_LIMIT || hostId + size > ID_LIMIT) throw new InvalidArgumentError(`userns_options.${what}: the range passes the highest ID (${ID_LIMIT - 1})`);
  if (containerId !== 0) throw new InvalidArgumentError(`userns_options.${what}: the mapping must map container ID 0 (it starts at ${containerId})`);
  // The point of a pod user namespace is that its root is not the node's root.
  if (hostId === 0) throw new InvalidArgumentError(`userns_options.${what}: mapping container root to host ID 0 gives the pod the node's root`);
  return { containerId, hostId, size };
}

/**
 * The pod's user namespace from `namespace_options.userns_options`, checked the way the
 * peers (cri-o, containerd) answer: NODE (or none) is no user namespace; POD takes exactly one
 * uid and one gid mapping that map container ID 0; CONTAINER and TARGET are not offered.
 * A user-namespaced pod cannot share the node's network, IPC or PID namespace, nor be privileged.
 */
export function planUserNamespace(pod: PodSandboxConfig__Output): IdMappings | undefined {
  const sc = pod.linux?.security_context;
  const opts = sc?.namespace_options?.userns_options;
  if (!opts) return undefined;
  switch (opts.mode) {
    case 'NODE':
      if (opts.uids.length > 0 || opts.gids.length > 0) throw new InvalidArgumentError('userns_options: mode NODE takes no uid or gid mappings');
      return undefined;
    case 'CONTAINER':
    case 'TARGET':
      throw new InvalidArgumentError(`userns_options: mode ${opts.mode} is not supported; use POD (one user namespace for the pod) or NODE`);
    case 'POD':
      break;
    default:
      throw new InvalidArgumentError(`userns_options: unknown mode ${String(opts.mode)}`);
  }
  if (opts.uids.length !== 1) throw new InvalidArgumentError(`userns_options: mode POD needs exactly one uid mapping, got ${opts.uids.length}`);
  if (opts.gids.length !== 1) throw new InvalidArgumentError(`userns_options: mode POD needs exactly one gid mapping, got ${opts.gids.length}`);
  const ns = sc?.namespace_options;
  for (const kind of ['network', 'ipc', 'pid'] as const) {
    if (ns?.[kind] === 'NODE') throw new InvalidArgumentError(`userns_options: a pod in its own user namespace cannot use the node's ${kind} namespace`);
  }
  if (sc?.privileged) throw new InvalidArgumentError('userns_options: a privileged pod cannot run in its own user namespace');
  return { uids: [mapping(opts.uids[0]!, 'uids[0]')], gids: [mapping(opts.gids[0]!, 'gids[0]')] };
}
