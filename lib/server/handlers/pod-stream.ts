import type { StreamPodSandboxesRequest__Output } from '../../generated/runtime/v1/StreamPodSandboxesRequest.js';
import type { StreamPodSandboxesResponse } from '../../generated/runtime/v1/StreamPodSandboxesResponse.js';
import type { CallContext } from '../context.js';
import { streamItems } from '../stream-batches.js';
import { filteredPods, podEncoder } from './pod-list.js';

/** StreamPodSandboxes: ListPodSandbox's answer in batches, from the same per-pod encodings. */
export async function podStream(req: StreamPodSandboxesRequest__Output, ctx: CallContext, send: (m: StreamPodSandboxesResponse) => boolean, drained: () => Promise<void>): Promise<void> {
  await streamItems(filteredPods(req.filter, ctx), (p) => podEncoder.encodeItem(p), ctx, send, drained);
}
