import type { ListContainersRequest__Output } from '../../generated/runtime/v1/ListContainersRequest.js';
import type { ListContainersResponse } from '../../generated/runtime/v1/ListContainersResponse.js';
import { containerToWire } from './container-common.js';
import type { CallContext } from '../context.js';

export function containerList(req: ListContainersRequest__Output, ctx: CallContext): ListContainersResponse {
  const f = req.filter;
  const containers = ctx.services.containers.list({
    id: f?.id || undefined,
    podId: f?.pod_sandbox_id || undefined,
    state: f?.state?.state,
    labelSelector: f?.label_selector,
  });
  return { containers: containers.map(containerToWire) };
}
