import { isRuntimeError } from '../../errors/index.js';
import type { RemoveContainerRequest__Output } from '../../generated/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from '../../generated/runtime/v1/RemoveContainerResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

/**
 * Removals in flight, by container ID. The container service does not serialize removals of
 * one container, and two at once would both unmount its root filesystem (the second failing);
 * a second RemoveContainer joins the first instead, since removing is idempotent anyway.
 */
const removing = new Map<string, Promise<void>>();

export async function containerRemove(req: RemoveContainerRequest__Output, ctx: CallContext): Promise<RemoveContainerResponse> {
  const idOrPrefix = requireField(req.container_id, 'container_id');
  let id: string;
  try {
    id = ctx.services.containers.get(idOrPrefix).id;
  } catch (err) {
    if (isRuntimeError(err) && err.kind === 'not_found') return {};
    throw err;
  }
  let removal = removing.get(id);
  if (!removal) {
    removal = ctx.services.containers.remove(id, ctx.log).finally(() => removing.delete(id));
    removing.set(id, removal);
  }
  await removal;
  return {};
}
