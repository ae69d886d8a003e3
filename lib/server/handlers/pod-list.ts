import type { ListPodSandboxRequest__Output } from '../../generated/runtime/v1/ListPodSandboxRequest.js';
import type { PodSandboxFilter__Output } from '../../generated/runtime/v1/PodSandboxFilter.js';
import type { PodSandbox } from '../../generated/runtime/v1/PodSandbox.js';
import type { PodRecord } from '../../sandbox/index.js';
import { loadCriProto } from '../proto.js';
import { ListEncoder } from '../list-encoding.js';
import type { CallContext } from '../context.js';

function podToWire(pod: PodRecord): PodSandbox {
  return {
    id: pod.id,
    metadata: pod.metadata,
    state: pod.state,
    created_at: pod.createdAt,
    labels: pod.labels,
    annotations: pod.annotations,
    runtime_handler: pod.runtimeHandler,
  };
}

/** A pod's listed fields are fixed at creation but for its state. Shared with StreamPodSandboxes. */
export const podEncoder = new ListEncoder<PodRecord, PodSandbox>(
  (wire) => loadCriProto().runtime.v1.RuntimeService.service.ListPodSandbox!.responseSerialize({ items: [wire] }),
  podToWire,
  (pod) => pod.state,
);

/** The pods a ListPodSandbox or StreamPodSandboxes filter selects. */
export function filteredPods(f: PodSandboxFilter__Output | null | undefined, ctx: CallContext): PodRecord[] {
  return ctx.services.pods.list({ id: f?.id || undefined, state: f?.state?.state, labelSelector: f?.label_selector });
}

export function podList(req: ListPodSandboxRequest__Output, ctx: CallContext): Buffer {
  return podEncoder.encode(filteredPods(req.filter, ctx));
}
