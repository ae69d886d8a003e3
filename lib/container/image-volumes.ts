import { lstatSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Mount__Output } from '../generated/runtime/v1/Mount.js';
import { InvalidArgumentError, NotFoundError } from '../errors/index.js';
import type { ImageRecord } from '../image/index.js';
import type { Paths } from '../paths/index.js';
import type { Storage } from '../storage/index.js';

/** An image volume of a container as its record keeps it: which image, where. */
export interface ImageVolumeUse {
  /** The image as the mount named it, and the ID it resolved to. */
  image: string;
  imageId: string;
  containerPath: string;
}

export interface ImageVolumeDeps {
  paths: Paths;
  images: { resolve(refOrId: string): ImageRecord | undefined };
  storage: Pick<Storage, 'mountImageVolume'>;
}

/**
 * `image_sub_path` inside the mounted image, as a host path: relative, no `..`, every
 * component a real directory of the image (a symlink could name anything on the node), and
 * the last one a directory, as kubelet's subPath of an image volume must be.
 */
export function imageSubPath(mountPoint: string, subPath: string, image: string): string {
  if (!subPath) return mountPoint;
  const clean = posix.normalize(subPath);
  if (posix.isAbsolute(subPath) || clean === '..' || clean.startsWith('../')) {
    throw new InvalidArgumentError(`image_sub_path "${subPath}" must be a relative path inside the image`);
  }
  let path = mountPoint;
  for (const part of clean.split('/').filter((p) => p !== '' && p !== '.')) {
    path = join(path, part);
    let st;
    try {
      st = lstatSync(path);
    } catch {
      throw new NotFoundError(`sub path "${subPath}" does not exist in image volume "${image}"`);
    }
    if (st.isSymbolicLink()) throw new InvalidArgumentError(`sub path "${subPath}" of image volume "${image}" goes through a symbolic link`);
    if (!st.isDirectory()) throw new InvalidArgumentError(`sub path "${subPath}" of image volume "${image}" is not a directory`);
  }
  return path;
}

/**
 * Mounts the images the request's mounts name (`Mount.image`) and returns the mounts with
 * each such one turned into a private read-only bind of its image, and the images used.
 * The image must already be on the node (kubelet pulls it first, and containerd and cri-o
 * refuse one that is not), the host path empty and the mount read-only: an image volume
 * cannot be written, whatever the request says about it.
 */
export async function mountImageVolumes(containerId: string, mounts: Mount__Output[], deps: ImageVolumeDeps): Promise<{ mounts: Mount__Output[]; uses: ImageVolumeUse[] }> {
  const out: Mount__Output[] = [];
  const uses: ImageVolumeUse[] = [];
  let index = 0;
  for (const m of mounts) {
    const name = m.image?.image ?? '';
    if (!name) {
      if (m.image_sub_path) throw new InvalidArgumentError(`mount ${m.container_path}: image_sub_path needs an image`);
      out.push(m);
      continue;
    }
    if (m.host_path) throw new InvalidArgumentError(`mount ${m.container_path}: an image volume has no host_path (got "${m.host_path}")`);
    if (m.uidMappings.length > 0 || m.gidMappings.length > 0) throw new InvalidArgumentError(`mount ${m.container_path}: ID-mapped image volumes are not supported by runcri`);
    if (m.propagation === 'PROPAGATION_BIDIRECTIONAL') throw new InvalidArgumentError(`mount ${m.container_path}: an image volume cannot propagate mounts back to the node`);
    const record = deps.images.resolve(name);
    if (!record) throw new NotFoundError(`image volume ${m.container_path}: image "${name}" does not exist on the node; pull it first`);
    const mountPoint = await deps.storage.mountImageVolume({ containerId, layers: record.layers, mountPoint: join(deps.paths.imageVolumes(containerId), String(index++)) });
    const source = imageSubPath(mountPoint, m.image_sub_path, name);
    uses.push({ image: name, imageId: record.id, containerPath: m.container_path });
    out.push({
      ...m, host_path: source, readonly: true, recursive_read_only: false, propagation: 'PROPAGATION_PRIVATE',
      image: null, image_sub_path: '',
    });
  }
  return { mounts: out, uses };
}
