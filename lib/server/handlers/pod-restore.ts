import type { RestorePodRequest__Output } from '../../generated/runtime/v1/RestorePodRequest.js';
import type { RestorePodResponse } from '../../generated/runtime/v1/RestorePodResponse.js';
import type { CallContext } from '../context.js';

export async function podRestore(req: RestorePodRequest__Output, ctx: CallContext): Promise<RestorePodResponse> {
  const restored = await ctx.services.podCheckpoints.restore({
    checkpointPath: req.checkpoint_path, config: req.config, runtimeHandler: req.runtime_handler, containerConfigs: req.container_configs,
  }, ctx.log);
  return { pod_sandbox_id: restored.podId, restored_containers: restored.containers.map((c) => ({ name: c.name, container_id: c.containerId })) };
}
