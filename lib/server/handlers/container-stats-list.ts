import type { ListContainerStatsRequest__Output } from '../../generated/runtime/v1/ListContainerStatsRequest.js';
import type { ContainerStatsFilter__Output } from '../../generated/runtime/v1/ContainerStatsFilter.js';
import type { ContainerStats } from '../../generated/runtime/v1/ContainerStats.js';
import type { ContainerStatsFilter } from '../../stats/index.js';
import { ContainerStatsEncoder } from '../stats-encoding.js';
import type { CallContext } from '../context.js';

function statsFilter(f: ContainerStatsFilter__Output | null | undefined): ContainerStatsFilter {
  const labels = f?.label_selector && Object.keys(f.label_selector).length > 0 ? f.label_selector : undefined;
  return { id: f?.id || undefined, podSandboxId: f?.pod_sandbox_id || undefined, labelSelector: labels };
}

/** The stats a StreamContainerStats filter selects. */
export function filteredContainerStats(f: ContainerStatsFilter__Output | null | undefined, ctx: CallContext): Promise<ContainerStats[]> {
  return ctx.services.stats.listContainerStats(statsFilter(f));
}

const encoder = new ContainerStatsEncoder();

/** Answered as bytes: the response is encoded straight from the samples (see stats-encoding.ts). */
export async function containerStatsList(req: ListContainerStatsRequest__Output, ctx: CallContext): Promise<Buffer> {
  return encoder.encodeList(await ctx.services.stats.listContainerSamples(statsFilter(req.filter)));
}
