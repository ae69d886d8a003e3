import type { PullImageRequest__Output } from '../../generated/runtime/v1/PullImageRequest.js';
import type { PullImageResponse } from '../../generated/runtime/v1/PullImageResponse.js';
import { authFromCri } from '../../image/index.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function imagePull(req: PullImageRequest__Output, ctx: CallContext): Promise<PullImageResponse> {
  const reference = requireField(req.image?.image, 'image.image');
  const record = await ctx.services.images.pull(reference, authFromCri(req.auth), ctx.signal);
  return { image_ref: record.id };
}
