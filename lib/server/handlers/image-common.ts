import type { Image } from '../../generated/runtime/v1/Image.js';
import type { ContainerRecord } from '../../container/index.js';
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

/**
 * After containers are removed: the layers of image volumes whose image was removed while
 * they were mounted are kept for them only, so they are collected now rather than at the
 * next removal of an image.
 */
export async function collectOrphanedVolumeLayers(removed: readonly ContainerRecord[], images: ImageService): Promise<void> {
  if (removed.some((c) => c.imageVolumes?.some((v) => !images.status(v.imageId)))) await images.gc();
}
