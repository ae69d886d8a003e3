import type { RemoveContainerRequest__Output } from '../../generated/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from '../../generated/runtime/v1/RemoveContainerResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

/** Idempotent: an unknown ID, or a container another call removes meanwhile, is already gone. */
export async function containerRemove(req: RemoveContainerRequest__Output, ctx: CallContext): Promise<RemoveContainerResponse> {
  await ctx.services.containers.remove(requireField(req.container_id, 'container_id'), ctx.log);
  return {};
}
