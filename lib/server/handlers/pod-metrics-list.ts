import type { ListPodSandboxMetricsResponse } from '../../generated/runtime/v1/ListPodSandboxMetricsResponse.js';
import type { CallContext } from '../context.js';

export async function podMetricsList(_req: unknown, ctx: CallContext): Promise<ListPodSandboxMetricsResponse> {
  return { pod_metrics: await ctx.services.stats.podMetrics() };
}
