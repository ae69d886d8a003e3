import type { ListPodSandboxStatsRequest__Output } from '../../generated/runtime/v1/ListPodSandboxStatsRequest.js';
import type { PodSandboxStatsFilter__Output } from '../../generated/runtime/v1/PodSandboxStatsFilter.js';
import type { PodSandboxStats } from '../../generated/runtime/v1/PodSandboxStats.js';
import type { PodStatsFilter } from '../../stats/index.js';
import { PodStatsEncoder } from '../stats-encoding.js';
import type { CallContext } from '../context.js';

function statsFilter(f: PodSandboxStatsFilter__Output | null | undefined): PodStatsFilter {
  const labels = f?.label_selector && Object.keys(f.label_selector).length > 0 ? f.label_selector : undefined;
  return { id: f?.id || undefined, labelSelector: labels };
}

/** The stats a StreamPodSandboxStats filter selects. */
export function filteredPodStats(f: PodSandboxStatsFilter__Output | null | undefined, ctx: CallContext): Promise<PodSandboxStats[]> {
  return ctx.services.stats.listPodStats(statsFilter(f));
}

const encoder = new PodStatsEncoder();

/** Answered as bytes: the response is encoded straight from the samples (see stats-encoding.ts). */
export async function podStatsList(req: ListPodSandboxStatsRequest__Output, ctx: CallContext): Promise<Buffer> {
  return encoder.encodeList(await ctx.services.stats.listPodSamples(statsFilter(req.filter)));
}
