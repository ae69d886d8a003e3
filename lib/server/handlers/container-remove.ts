import type { ContainerRecord } from '../../container/index.js';
import { isRuntimeError } from '../../errors/index.js';
import type { RemoveContainerRequest__Output } from '../../generated/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from '../../generated/runtime/v1/RemoveContainerResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';
import { collectOrphanedVolumeLayers } from './image-common.js';

/** Idempotent: an unknown ID, or a container another call removes meanwhile, is already gone. */
export async function containerRemove(req: RemoveContainerRequest__Output, ctx: CallContext): Promise<RemoveContainerResponse> {
  const idOrPrefix = requireField(req.container_id, 'container_id');
  // Read before it is gone: the layers of its image volumes may be left for nothing else.
  let record: ContainerRecord | undefined;
  try {
    record = ctx.services.containers.get(idOrPrefix);
  } catch (err) {
    if (!(isRuntimeError(err) && err.kind === 'not_found')) throw err;
  }
  await ctx.services.containers.remove(idOrPrefix, ctx.log);
  if (record) await collectOrphanedVolumeLayers([record], ctx.services.images);
  return {};
}
