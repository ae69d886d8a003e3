import type { ListPodSandboxStatsRequest__Output } from '../../generated/runtime/v1/ListPodSandboxStatsRequest.js';
import type { ListPodSandboxStatsResponse } from '../../generated/runtime/v1/ListPodSandboxStatsResponse.js';
import type { PodSandboxStatsFilter__Output } from '../../generated/runtime/v1/PodSandboxStatsFilter.js';
import type { PodSandboxStats } from '../../generated/runtime/v1/PodSandboxStats.js';
import type { CallContext } from '../context.js';

/** The stats a ListPodSandboxStats or StreamPodSandboxStats filter selects. */
export function filteredPodStats(f: PodSandboxStatsFilter__Output | null | undefined, ctx: CallContext): Promise<PodSandboxStats[]> {
  const labels = f?.label_selector && Object.keys(f.label_selector).length > 0 ? f.label_selector : undefined;
  return ctx.services.stats.listPodStats({ id: f?.id || undefined, labelSelector: labels });
}

export async function podStatsList(req: ListPodSandboxStatsRequest__Output, ctx: CallContext): Promise<ListPodSandboxStatsResponse> {
  return { stats: await filteredPodStats(req.filter, ctx) };
}
