import type { Image } from '../../generated/runtime/v1/Image.js';
import type { ImageRecord, ImageService } from '../../image/index.js';

/** A record as CRI's Image: USER split into a numeric uid or a user name, as kubelet reads it. */
export function toCriImage(record: ImageRecord, images: ImageService): Image {
  const user = (record.config.User ?? '').split(':')[0] ?? '';
  const numeric = /^[0-9]+$/.test(user);
  return {
    id: record.id,
    repo_tags: record.repoTags,
    repo_digests: record.repoDigests,
    size: String(record.size),
    uid: numeric ? { value: user } : null,
    username: numeric ? '' : user,
    spec: { image: record.id, annotations: {} },
    pinned: images.isPinned(record),
  };
}

