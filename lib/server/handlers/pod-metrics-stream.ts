import type { StreamPodSandboxMetricsResponse } from '../../generated/runtime/v1/StreamPodSandboxMetricsResponse.js';
import type { CallContext } from '../context.js';
import { loadCriProto } from '../proto.js';
import { streamItems } from '../stream-batches.js';

/** StreamPodSandboxMetrics: ListPodSandboxMetrics' answer in batches (one pod's metrics never split). */
export async function podMetricsStream(_req: unknown, ctx: CallContext, send: (m: StreamPodSandboxMetricsResponse) => boolean, drained: () => Promise<void>): Promise<void> {
  const serialize = loadCriProto().runtime.v1.RuntimeService.service.StreamPodSandboxMetrics!.responseSerialize;
  await streamItems(await ctx.services.stats.podMetrics(), (m) => serialize({ pod_sandbox_metrics: [m] }), ctx, send, drained);
}
