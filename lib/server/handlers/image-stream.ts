import type { StreamImagesRequest__Output } from '../../generated/runtime/v1/StreamImagesRequest.js';
import type { StreamImagesResponse } from '../../generated/runtime/v1/StreamImagesResponse.js';
import type { CallContext } from '../context.js';
import { loadCriProto } from '../proto.js';
import { streamItems } from '../stream-batches.js';
import { filteredImages } from './image-list.js';

/** StreamImages: ListImages' answer in batches. */
export async function imageStream(req: StreamImagesRequest__Output, ctx: CallContext, send: (m: StreamImagesResponse) => boolean, drained: () => Promise<void>): Promise<void> {
  const serialize = loadCriProto().runtime.v1.ImageService.service.StreamImages!.responseSerialize;
  await streamItems(filteredImages(req.filter, ctx), (i) => serialize({ images: [i] }), ctx, send, drained);
}
