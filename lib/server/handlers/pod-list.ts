import type { ListPodSandboxRequest__Output } from '../../generated/runtime/v1/ListPodSandboxRequest.js';
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

// A pod's listed fields are fixed at creation but for its state.
const encoder = new ListEncoder<PodRecord, PodSandbox>(
  (wire) => loadCriProto().runtime.v1.RuntimeService.service.ListPodSandbox!.responseSerialize({ items: [wire] }),
  podToWire,
  (pod) => pod.state,
);

export function podList(req: ListPodSandboxRequest__Output, ctx: CallContext): Buffer {
  const f = req.filter;
  return encoder.encode(ctx.services.pods.list({ id: f?.id || undefined, state: f?.state?.state, labelSelector: f?.label_selector }));
}
