import type { UpdateContainerResourcesRequest__Output } from '../../generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdateContainerResourcesResponse } from '../../generated/runtime/v1/UpdateContainerResourcesResponse.js';
import type { CallContext } from '../context.js';

export async function containerUpdate(req: UpdateContainerResourcesRequest__Output, ctx: CallContext): Promise<UpdateContainerResourcesResponse> {
  await ctx.services.containers.updateResources(req.container_id, req.linux);
  return {};
}
