import type { CreateContainerRequest__Output } from '../../generated/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from '../../generated/runtime/v1/CreateContainerResponse.js';
import type { CallContext } from '../context.js';

export async function containerCreate(req: CreateContainerRequest__Output, ctx: CallContext): Promise<CreateContainerResponse> {
  return { container_id: await ctx.services.containers.create(req, ctx.signal, ctx.log) };
}
