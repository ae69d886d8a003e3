import type { ListContainerStatsRequest__Output } from '../../generated/runtime/v1/ListContainerStatsRequest.js';
import type { ListContainerStatsResponse } from '../../generated/runtime/v1/ListContainerStatsResponse.js';
import type { ContainerStatsFilter__Output } from '../../generated/runtime/v1/ContainerStatsFilter.js';
import type { ContainerStats } from '../../generated/runtime/v1/ContainerStats.js';
import type { CallContext } from '../context.js';

/** The stats a ListContainerStats or StreamContainerStats filter selects. */
export function filteredContainerStats(f: ContainerStatsFilter__Output | null | undefined, ctx: CallContext): Promise<ContainerStats[]> {
  const labels = f?.label_selector && Object.keys(f.label_selector).length > 0 ? f.label_selector : undefined;
  return ctx.services.stats.listContainerStats({ id: f?.id || undefined, podSandboxId: f?.pod_sandbox_id || undefined, labelSelector: labels });
}

export async function containerStatsList(req: ListContainerStatsRequest__Output, ctx: CallContext): Promise<ListContainerStatsResponse> {
  return { stats: await filteredContainerStats(req.filter, ctx) };
}
