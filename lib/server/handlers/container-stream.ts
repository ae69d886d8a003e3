import type { StreamContainersRequest__Output } from '../../generated/runtime/v1/StreamContainersRequest.js';
import type { StreamContainersResponse } from '../../generated/runtime/v1/StreamContainersResponse.js';
import type { CallContext } from '../context.js';
import { streamItems } from '../stream-batches.js';
import { containerEncoder, filteredContainers } from './container-list.js';

/** StreamContainers: ListContainers' answer in batches, from the same per-container encodings. */
export async function containerStream(req: StreamContainersRequest__Output, ctx: CallContext, send: (m: StreamContainersResponse) => boolean, drained: () => Promise<void>): Promise<void> {
  await streamItems(filteredContainers(req.filter, ctx), (c) => containerEncoder.encodeItem(c), ctx, send, drained);
}
