import type { PortForwardRequest__Output } from '../../generated/runtime/v1/PortForwardRequest.js';
import type { PortForwardResponse } from '../../generated/runtime/v1/PortForwardResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function podPortForward(req: PortForwardRequest__Output, ctx: CallContext): Promise<PortForwardResponse> {
  requireField(req.pod_sandbox_id, 'pod_sandbox_id');
  return { url: await ctx.services.streaming.portForward(req.pod_sandbox_id, req.port) };
}
