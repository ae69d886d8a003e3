import type { ListContainersRequest__Output } from '../../generated/runtime/v1/ListContainersRequest.js';
import type { ContainerFilter__Output } from '../../generated/runtime/v1/ContainerFilter.js';
import type { Container } from '../../generated/runtime/v1/Container.js';
import type { ContainerRecord } from '../../container/index.js';
import { loadCriProto } from '../proto.js';
import { ListEncoder } from '../list-encoding.js';
import { containerToWire } from './container-common.js';
import type { CallContext } from '../context.js';

/** A container's listed fields are fixed at creation but for its state. Shared with StreamContainers. */
export const containerEncoder = new ListEncoder<ContainerRecord, Container>(
  (wire) => loadCriProto().runtime.v1.RuntimeService.service.ListContainers!.responseSerialize({ containers: [wire] }),
  containerToWire,
  (c) => c.state,
);

/** The containers a ListContainers or StreamContainers filter selects. */
export function filteredContainers(f: ContainerFilter__Output | null | undefined, ctx: CallContext): ContainerRecord[] {
  return ctx.services.containers.list({
    id: f?.id || undefined,
    podId: f?.pod_sandbox_id || undefined,
    state: f?.state?.state,
    labelSelector: f?.label_selector,
  });
}

export function containerList(req: ListContainersRequest__Output, ctx: CallContext): Buffer {
  return containerEncoder.encode(filteredContainers(req.filter, ctx));
}
