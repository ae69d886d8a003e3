import type { RemovePodSandboxRequest__Output } from '../../generated/runtime/v1/RemovePodSandboxRequest.js';
import type { RemovePodSandboxResponse } from '../../generated/runtime/v1/RemovePodSandboxResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';
import { collectOrphanedVolumeLayers } from './image-common.js';

export async function podRemove(req: RemovePodSandboxRequest__Output, ctx: CallContext): Promise<RemovePodSandboxResponse> {
  const podId = requireField(req.pod_sandbox_id, 'pod_sandbox_id');
  const containers = ctx.services.containers.list({ podId });
  await ctx.services.pods.remove(podId, ctx.log);
  await collectOrphanedVolumeLayers(containers, ctx.services.images);
  return {};
}
