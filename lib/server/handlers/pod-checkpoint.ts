import type { CheckpointPodRequest__Output } from '../../generated/runtime/v1/CheckpointPodRequest.js';
import type { CheckpointPodResponse } from '../../generated/runtime/v1/CheckpointPodResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

/** `options.leaveRunning` = "true" keeps the containers running, as containerd reads it; otherwise they stop after the dump. */
export async function podCheckpoint(req: CheckpointPodRequest__Output, ctx: CallContext): Promise<CheckpointPodResponse> {
  const pod = ctx.services.pods.get(requireField(req.pod_sandbox_id, 'pod_sandbox_id'));
  await ctx.services.podCheckpoints.checkpoint(pod, { outputPath: req.output_path, containerIds: req.container_ids, leaveRunning: req.options.leaveRunning === 'true' }, ctx.log);
  return {};
}
