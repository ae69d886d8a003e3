import type { ReopenContainerLogRequest__Output } from '../../generated/runtime/v1/ReopenContainerLogRequest.js';
import type { ReopenContainerLogResponse } from '../../generated/runtime/v1/ReopenContainerLogResponse.js';
import type { CallContext } from '../context.js';

export async function containerReopenLog(req: ReopenContainerLogRequest__Output, ctx: CallContext): Promise<ReopenContainerLogResponse> {
  await ctx.services.containers.reopenLog(req.container_id);
  return {};
}
