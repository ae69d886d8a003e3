import type { ImageStatusRequest__Output } from '../../generated/runtime/v1/ImageStatusRequest.js';
import type { ImageStatusResponse } from '../../generated/runtime/v1/ImageStatusResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';
import { toCriImage } from './image-common.js';

/** An unknown image is an empty answer, not an error: kubelet pulls when it sees one. */
export function imageStatus(req: ImageStatusRequest__Output, ctx: CallContext): ImageStatusResponse {
  const images = ctx.services.images;
  const record = images.status(requireField(req.image?.image, 'image.image'));
  if (!record) return { image: null, info: {} };
  const response: ImageStatusResponse = { image: toCriImage(record, images), info: {} };
  if (req.verbose) {
    response.info = { info: JSON.stringify({ chainIDs: record.layers, platform: record.platform, pulledAt: record.pulledAt, imageSpec: images.imageConfig(record) }) };
  }
  return response;
}
