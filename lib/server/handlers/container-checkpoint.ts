import type { CheckpointContainerRequest__Output } from '../../generated/runtime/v1/CheckpointContainerRequest.js';
import type { CheckpointContainerResponse } from '../../generated/runtime/v1/CheckpointContainerResponse.js';
import { InvalidArgumentError } from '../../errors/index.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

/** `timeout` is in seconds; 0 leaves it to the runtime's default. */
export async function containerCheckpoint(req: CheckpointContainerRequest__Output, ctx: CallContext): Promise<CheckpointContainerResponse> {
  const timeout = Number(req.timeout || '0');
  if (!Number.isSafeInteger(timeout) || timeout < 0) throw new InvalidArgumentError(`timeout ${req.timeout} must be a number of seconds, 0 or more`);
  await ctx.services.containers.checkpoint(requireField(req.container_id, 'container_id'), req.location, timeout, ctx.log);
  return {};
}
