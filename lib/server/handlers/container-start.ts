import type { StartContainerRequest__Output } from '../../generated/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from '../../generated/runtime/v1/StartContainerResponse.js';
import type { CallContext } from '../context.js';
import { commandRefused } from './container-common.js';

/** A second start of one container waits for the first under the container's lock, then finds it no longer created. */
export async function containerStart(req: StartContainerRequest__Output, ctx: CallContext): Promise<StartContainerResponse> {
  try {
    await ctx.services.containers.start(req.container_id, ctx.log);
  } catch (err) {
    throw commandRefused(err);
  }
  return {};
}
