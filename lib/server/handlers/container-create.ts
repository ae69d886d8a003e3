import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { checkLinuxResources } from '../../cgroups/index.js';
import { InvalidArgumentError } from '../../errors/index.js';
import type { CreateContainerRequest__Output } from '../../generated/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from '../../generated/runtime/v1/CreateContainerResponse.js';
import { checkNameLength, checkPathLength } from '../../util/limits.js';
import type { CallContext } from '../context.js';
import { commandRefused } from './container-common.js';

/**
 * The request's mount sources, checked before anything is made. The container service checks
 * them too, one mount at a time, after it has made the earlier mounts' sources shared: a
 * later bad path then left such a self bind mount behind. Checked all at once here, a bad
 * path is refused while nothing exists to undo. Image volumes are checked by the create.
 */
function checkMountSources(req: CreateContainerRequest__Output): void {
  for (const [i, m] of (req.config?.mounts ?? []).entries()) {
    // An image volume's source is the image, mounted by the create: it has no host path.
    if (m.image?.image) {
      if (m.host_path) throw new InvalidArgumentError(`config.mounts[${i}]: an image volume has no host_path (got "${m.host_path.slice(0, 200)}")`);
      continue;
    }
    if (!m.host_path || !isAbsolute(m.host_path)) throw new InvalidArgumentError(`config.mounts[${i}]: host_path "${m.host_path.slice(0, 200)}" must be an absolute path`);
    if (!existsSync(m.host_path)) throw new InvalidArgumentError(`config.mounts[${i}]: host path ${m.host_path.slice(0, 200)} does not exist`);
  }
}

/** Names and paths that reach conmon's arguments and the kernel, bounded before anything is made. */
function checkLengths(req: CreateContainerRequest__Output, ctx: CallContext): void {
  const config = req.config;
  if (!config) return;
  if (config.metadata) checkNameLength(config.metadata.name, 'config.metadata.name');
  if (config.log_path && req.pod_sandbox_id) {
    const pod = ctx.services.pods.get(req.pod_sandbox_id);
    checkPathLength(join(pod.logDirectory, config.log_path), 'config.log_path within the pod\'s log directory');
  }
}

export async function containerCreate(req: CreateContainerRequest__Output, ctx: CallContext): Promise<CreateContainerResponse> {
  checkLengths(req, ctx);
  checkMountSources(req);
  checkLinuxResources(req.config?.linux?.resources, 'config.linux.resources');
  try {
    return { container_id: await ctx.services.containerCreator.create(req, ctx.signal, ctx.log) };
  } catch (err) {
    throw commandRefused(err);
  }
}
