import type { StreamContainerStatsRequest__Output } from '../../generated/runtime/v1/StreamContainerStatsRequest.js';
import type { StreamContainerStatsResponse } from '../../generated/runtime/v1/StreamContainerStatsResponse.js';
import type { CallContext } from '../context.js';
import { loadCriProto } from '../proto.js';
import { streamItems } from '../stream-batches.js';
import { filteredContainerStats } from './container-stats-list.js';

/** StreamContainerStats: ListContainerStats' answer in batches. */
export async function containerStatsStream(req: StreamContainerStatsRequest__Output, ctx: CallContext, send: (m: StreamContainerStatsResponse) => boolean, drained: () => Promise<void>): Promise<void> {
  const serialize = loadCriProto().runtime.v1.RuntimeService.service.StreamContainerStats!.responseSerialize;
  await streamItems(await filteredContainerStats(req.filter, ctx), (s) => serialize({ container_stats: [s] }), ctx, send, drained);
}
