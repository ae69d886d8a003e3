import { checkLinuxResources } from '../../cgroups/index.js';
import { FailedPreconditionError } from '../../errors/index.js';
import type { UpdateContainerResourcesRequest__Output } from '../../generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdateContainerResourcesResponse } from '../../generated/runtime/v1/UpdateContainerResourcesResponse.js';
import { CommandFailedError } from '../../process/index.js';
import type { CallContext } from '../context.js';

export async function containerUpdate(req: UpdateContainerResourcesRequest__Output, ctx: CallContext): Promise<UpdateContainerResourcesResponse> {
  checkLinuxResources(req.linux, 'linux');
  try {
    await ctx.services.containers.updateResources(req.container_id, req.linux);
  } catch (err) {
    // Values that pass the checks can still be refused for the moment (a memory limit below
    // what the container uses now): the kernel's answer about this container, not a fault here.
    if (err instanceof CommandFailedError) throw new FailedPreconditionError(`the container's cgroup refused the new resources: ${err.stderr.trim().slice(0, 500) || err.message}`, { cause: err });
    throw err;
  }
  return {};
}
