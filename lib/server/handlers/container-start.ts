import { FailedPreconditionError } from '../../errors/index.js';
import type { StartContainerRequest__Output } from '../../generated/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from '../../generated/runtime/v1/StartContainerResponse.js';
import type { CallContext } from '../context.js';
import { commandRefused } from './container-common.js';

/**
 * Containers with a StartContainer in flight. The container service checks the state before
 * it starts runc and records the outcome after, so a second start meanwhile would run
 * `runc start` again and, failing, record a running container as exited: refused here.
 */
const starting = new Set<string>();

export async function containerStart(req: StartContainerRequest__Output, ctx: CallContext): Promise<StartContainerResponse> {
  const id = ctx.services.containers.get(req.container_id).id;
  if (starting.has(id)) throw new FailedPreconditionError(`container ${id} is already being started`);
  starting.add(id);
  try {
    await ctx.services.containers.start(id, ctx.log);
  } catch (err) {
    throw commandRefused(err);
  } finally {
    starting.delete(id);
  }
  return {};
}
