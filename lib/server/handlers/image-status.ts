import type { ImageStatusRequest__Output } from '../../generated/runtime/v1/ImageStatusRequest.js';
import type { ImageStatusResponse } from '../../generated/runtime/v1/ImageStatusResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';
import { toCriImage } from './image-common.js';

/**
 * The containers that use the image: as their root filesystem, or mounted as an image
 * volume. Removing the image leaves their layers in place until the last of them is removed.
 */
function imageUsers(imageId: string, ctx: CallContext): { containers: string[]; imageVolumes: string[] } {
  const containers: string[] = [];
  const imageVolumes: string[] = [];
  for (const c of ctx.services.containers.list()) {
    if (c.imageId === imageId) containers.push(c.id);
    if (c.imageVolumes?.some((v) => v.imageId === imageId)) imageVolumes.push(c.id);
  }
  return { containers, imageVolumes };
}

/** An unknown image is an empty answer, not an error: kubelet pulls when it sees one. */
export function imageStatus(req: ImageStatusRequest__Output, ctx: CallContext): ImageStatusResponse {
  const images = ctx.services.images;
  const record = images.status(requireField(req.image?.image, 'image.image'));
  if (!record) return { image: null, info: {} };
  const response: ImageStatusResponse = { image: toCriImage(record, images), info: {} };
  if (req.verbose) {
    const usedBy = imageUsers(record.id, ctx);
    response.info = { info: JSON.stringify({ chainIDs: record.layers, platform: record.platform, pulledAt: record.pulledAt, usedBy, imageSpec: images.imageConfig(record) }) };
  }
  return response;
}
