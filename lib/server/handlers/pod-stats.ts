import type { PodSandboxStatsRequest__Output } from '../../generated/runtime/v1/PodSandboxStatsRequest.js';
import type { PodSandboxStatsResponse } from '../../generated/runtime/v1/PodSandboxStatsResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function podStats(req: PodSandboxStatsRequest__Output, ctx: CallContext): Promise<PodSandboxStatsResponse> {
  return { stats: await ctx.services.stats.podStats(requireField(req.pod_sandbox_id, 'pod_sandbox_id')) };
}
