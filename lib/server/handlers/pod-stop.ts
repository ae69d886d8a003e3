import type { StopPodSandboxRequest__Output } from '../../generated/runtime/v1/StopPodSandboxRequest.js';
import type { StopPodSandboxResponse } from '../../generated/runtime/v1/StopPodSandboxResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function podStop(req: StopPodSandboxRequest__Output, ctx: CallContext): Promise<StopPodSandboxResponse> {
  await ctx.services.pods.stop(requireField(req.pod_sandbox_id, 'pod_sandbox_id'), ctx.log);
  return {};
}
