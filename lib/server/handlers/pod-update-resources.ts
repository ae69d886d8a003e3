import { checkLinuxResources } from '../../cgroups/index.js';
import type { UpdatePodSandboxResourcesRequest__Output } from '../../generated/runtime/v1/UpdatePodSandboxResourcesRequest.js';
import type { UpdatePodSandboxResourcesResponse } from '../../generated/runtime/v1/UpdatePodSandboxResourcesResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function podUpdateResources(req: UpdatePodSandboxResourcesRequest__Output, ctx: CallContext): Promise<UpdatePodSandboxResourcesResponse> {
  // Values the kernel refuses (found by fuzzing: a cgroup write failing with EINVAL answered
  // INTERNAL). Unset fields keep the pod's values: the limits together are checked once merged.
  checkLinuxResources(req.resources, 'resources', { partial: true });
  checkLinuxResources(req.overhead, 'overhead', { partial: true });
  await ctx.services.pods.updateResources(requireField(req.pod_sandbox_id, 'pod_sandbox_id'), { resources: req.resources, overhead: req.overhead }, ctx.log);
  return {};
}
