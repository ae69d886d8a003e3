import type { RemoveImageRequest__Output } from '../../generated/runtime/v1/RemoveImageRequest.js';
import type { RemoveImageResponse } from '../../generated/runtime/v1/RemoveImageResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function imageRemove(req: RemoveImageRequest__Output, ctx: CallContext): Promise<RemoveImageResponse> {
  await ctx.services.images.remove(requireField(req.image?.image, 'image.image'));
  return {};
}
