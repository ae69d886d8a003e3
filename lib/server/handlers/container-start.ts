import type { StartContainerRequest__Output } from '../../generated/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from '../../generated/runtime/v1/StartContainerResponse.js';
import type { CallContext } from '../context.js';

export async function containerStart(req: StartContainerRequest__Output, ctx: CallContext): Promise<StartContainerResponse> {
  await ctx.services.containers.start(req.container_id, ctx.log);
  return {};
}
