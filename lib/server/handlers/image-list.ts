import type { ListImagesRequest__Output } from '../../generated/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from '../../generated/runtime/v1/ListImagesResponse.js';
import type { CallContext } from '../context.js';
import { toCriImage } from './image-common.js';

export function imageList(req: ListImagesRequest__Output, ctx: CallContext): ListImagesResponse {
  const images = ctx.services.images;
  return { images: images.list(req.filter?.image?.image || undefined).map((r) => toCriImage(r, images)) };
}
