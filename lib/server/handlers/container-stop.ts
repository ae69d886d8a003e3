import type { StopContainerRequest__Output } from '../../generated/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from '../../generated/runtime/v1/StopContainerResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function containerStop(req: StopContainerRequest__Output, ctx: CallContext): Promise<StopContainerResponse> {
  const timeout = Math.max(0, Number(req.timeout || '0'));
  await ctx.services.containers.stopContainer(requireField(req.container_id, 'container_id'), timeout, ctx.log);
  return {};
}
