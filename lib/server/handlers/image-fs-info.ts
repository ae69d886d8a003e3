import type { ImageFsInfoRequest__Output } from '../../generated/runtime/v1/ImageFsInfoRequest.js';
import type { ImageFsInfoResponse } from '../../generated/runtime/v1/ImageFsInfoResponse.js';
import { nanosToWire, nowNanos } from '../../util/time.js';
import type { CallContext } from '../context.js';

export function imageFsInfo(_req: ImageFsInfoRequest__Output, ctx: CallContext): ImageFsInfoResponse {
  const usage = ctx.services.images.fsInfo();
  return {
    image_filesystems: [{
      timestamp: nanosToWire(nowNanos()),
      fs_id: { mountpoint: usage.mountpoint },
      used_bytes: { value: String(usage.usedBytes) },
      inodes_used: { value: String(usage.inodesUsed) },
    }],
    container_filesystems: [],
  };
}
