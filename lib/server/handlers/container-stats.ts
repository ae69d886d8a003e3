import type { ContainerStatsRequest__Output } from '../../generated/runtime/v1/ContainerStatsRequest.js';
import type { ContainerStatsResponse } from '../../generated/runtime/v1/ContainerStatsResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function containerStats(req: ContainerStatsRequest__Output, ctx: CallContext): Promise<ContainerStatsResponse> {
  return { stats: await ctx.services.stats.containerStats(requireField(req.container_id, 'container_id')) };
}
