import type { RunPodSandboxRequest__Output } from '../../generated/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from '../../generated/runtime/v1/RunPodSandboxResponse.js';
import type { CallContext } from '../context.js';

export async function podRun(req: RunPodSandboxRequest__Output, ctx: CallContext): Promise<RunPodSandboxResponse> {
  return { pod_sandbox_id: await ctx.services.pods.run(req, ctx.log) };
}
