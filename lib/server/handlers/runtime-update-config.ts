import type { UpdateRuntimeConfigRequest__Output } from '../../generated/runtime/v1/UpdateRuntimeConfigRequest.js';
import type { UpdateRuntimeConfigResponse } from '../../generated/runtime/v1/UpdateRuntimeConfigResponse.js';
import { InvalidArgumentError } from '../../errors/index.js';
import type { CallContext } from '../context.js';

/** Comma-separated CIDRs (dual-stack kubelets send "10.0.0.0/24,fd00::/64"). */
const CIDR = /^([0-9]{1,3}(\.[0-9]{1,3}){3}\/[0-9]{1,2}|[0-9a-fA-F:]+\/[0-9]{1,3})$/;

export function runtimeUpdateConfig(req: UpdateRuntimeConfigRequest__Output, ctx: CallContext): UpdateRuntimeConfigResponse {
  const cidr = req.runtime_config?.network_config?.pod_cidr ?? '';
  if (!cidr) return {};
  for (const part of cidr.split(',')) {
    if (!CIDR.test(part.trim())) throw new InvalidArgumentError(`pod_cidr "${part}" is not a CIDR`);
  }
  ctx.services.pods.setPodCidr(cidr);
  ctx.log.info({ podCidr: cidr }, 'pod CIDR updated');
  return {};
}
