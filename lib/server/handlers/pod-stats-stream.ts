import type { StreamPodSandboxStatsRequest__Output } from '../../generated/runtime/v1/StreamPodSandboxStatsRequest.js';
import type { StreamPodSandboxStatsResponse } from '../../generated/runtime/v1/StreamPodSandboxStatsResponse.js';
import type { CallContext } from '../context.js';
import { loadCriProto } from '../proto.js';
import { streamItems } from '../stream-batches.js';
import { filteredPodStats } from './pod-stats-list.js';

/** StreamPodSandboxStats: ListPodSandboxStats' answer in batches. */
export async function podStatsStream(req: StreamPodSandboxStatsRequest__Output, ctx: CallContext, send: (m: StreamPodSandboxStatsResponse) => boolean, drained: () => Promise<void>): Promise<void> {
  const serialize = loadCriProto().runtime.v1.RuntimeService.service.StreamPodSandboxStats!.responseSerialize;
  await streamItems(await filteredPodStats(req.filter, ctx), (s) => serialize({ pod_sandbox_stats: [s] }), ctx, send, drained);
}
