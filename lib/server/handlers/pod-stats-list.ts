import type { ListPodSandboxStatsRequest__Output } from '../../generated/runtime/v1/ListPodSandboxStatsRequest.js';
import type { ListPodSandboxStatsResponse } from '../../generated/runtime/v1/ListPodSandboxStatsResponse.js';
import type { CallContext } from '../context.js';

export async function podStatsList(req: ListPodSandboxStatsRequest__Output, ctx: CallContext): Promise<ListPodSandboxStatsResponse> {
  const f = req.filter;
  const labels = f?.label_selector && Object.keys(f.label_selector).length > 0 ? f.label_selector : undefined;
  return { stats: await ctx.services.stats.listPodStats({ id: f?.id || undefined, labelSelector: labels }) };
}
