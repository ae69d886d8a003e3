import type { RuntimeConfigRequest__Output } from '../../generated/runtime/v1/RuntimeConfigRequest.js';
import type { RuntimeConfigResponse } from '../../generated/runtime/v1/RuntimeConfigResponse.js';
import type { CallContext } from '../context.js';

export function runtimeConfig(_req: RuntimeConfigRequest__Output, ctx: CallContext): RuntimeConfigResponse {
  return {
    linux: { cgroup_driver: ctx.services.config.cgroup_driver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' },
  };
}
