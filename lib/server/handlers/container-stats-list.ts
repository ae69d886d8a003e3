import type { ListContainerStatsRequest__Output } from '../../generated/runtime/v1/ListContainerStatsRequest.js';
import type { ListContainerStatsResponse } from '../../generated/runtime/v1/ListContainerStatsResponse.js';
import type { CallContext } from '../context.js';

export async function containerStatsList(req: ListContainerStatsRequest__Output, ctx: CallContext): Promise<ListContainerStatsResponse> {
  const f = req.filter;
  const labels = f?.label_selector && Object.keys(f.label_selector).length > 0 ? f.label_selector : undefined;
  return { stats: await ctx.services.stats.listContainerStats({ id: f?.id || undefined, podSandboxId: f?.pod_sandbox_id || undefined, labelSelector: labels }) };
}
