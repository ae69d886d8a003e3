import type { ListImagesRequest__Output } from '../../generated/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from '../../generated/runtime/v1/ListImagesResponse.js';
import type { ImageFilter__Output } from '../../generated/runtime/v1/ImageFilter.js';
import type { Image } from '../../generated/runtime/v1/Image.js';
import type { CallContext } from '../context.js';
import { toCriImage } from './image-common.js';

/** The images a ListImages or StreamImages filter selects, as CRI shapes them. */
export function filteredImages(f: ImageFilter__Output | null | undefined, ctx: CallContext): Image[] {
  const images = ctx.services.images;
  return images.list(f?.image?.image || undefined).map((r) => toCriImage(r, images));
}

export function imageList(req: ListImagesRequest__Output, ctx: CallContext): ListImagesResponse {
  return { images: filteredImages(req.filter, ctx) };
}
