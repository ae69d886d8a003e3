import type { ContainerStatusRequest__Output } from '../../generated/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from '../../generated/runtime/v1/ContainerStatusResponse.js';
import { containerStatusToWire } from './container-common.js';
import type { CallContext } from '../context.js';

export function containerStatus(req: ContainerStatusRequest__Output, ctx: CallContext): ContainerStatusResponse {
  const svc = ctx.services.containers;
  const c = svc.get(req.container_id);
  const response: ContainerStatusResponse = { status: containerStatusToWire(c) };
  if (req.verbose) {
    response.info = { info: JSON.stringify({ sandboxID: c.podId, pid: c.pid, runtimeHandler: c.runtimeHandler, runtimeSpec: svc.runtimeSpec(c) }) };
  }
  return response;
}
