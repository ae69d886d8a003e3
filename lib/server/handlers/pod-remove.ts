import type { RemovePodSandboxRequest__Output } from '../../generated/runtime/v1/RemovePodSandboxRequest.js';
import type { RemovePodSandboxResponse } from '../../generated/runtime/v1/RemovePodSandboxResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function podRemove(req: RemovePodSandboxRequest__Output, ctx: CallContext): Promise<RemovePodSandboxResponse> {
  await ctx.services.pods.remove(requireField(req.pod_sandbox_id, 'pod_sandbox_id'), ctx.log);
  return {};
}
