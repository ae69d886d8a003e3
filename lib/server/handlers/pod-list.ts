import type { ListPodSandboxRequest__Output } from '../../generated/runtime/v1/ListPodSandboxRequest.js';
import type { ListPodSandboxResponse } from '../../generated/runtime/v1/ListPodSandboxResponse.js';
import type { CallContext } from '../context.js';

export function podList(req: ListPodSandboxRequest__Output, ctx: CallContext): ListPodSandboxResponse {
  const f = req.filter;
  const pods = ctx.services.pods.list({ id: f?.id || undefined, state: f?.state?.state, labelSelector: f?.label_selector });
  return {
    items: pods.map((pod) => ({
      id: pod.id,
      metadata: pod.metadata,
      state: pod.state,
      created_at: pod.createdAt,
      labels: pod.labels,
      annotations: pod.annotations,
      runtime_handler: pod.runtimeHandler,
    })),
  };
}
