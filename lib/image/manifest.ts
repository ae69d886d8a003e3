import { createHash } from 'node:crypto';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors/index.js';
import { isValidDigest } from './reference.js';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What a manifest request accepts, best first. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');

/** Manifests and configs are small; anything past this is refused rather than buffered. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

const LAYER_MEDIA_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
]);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  urls?: string[];
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageManifest {
  kind: 'manifest';
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  kind: 'index';
  manifests: Descriptor[];
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Only sha256 is produced by registries in practice; other algorithms are refused, not skipped. */
export function requireSha256(digest: string, what: string): string {
  if (!isValidDigest(digest) || !digest.startsWith('sha256:')) {
    throw new FailedPreconditionError(`${what}: unsupported or malformed digest "${digest}"`);
  }
  return digest;
}

function descriptor(raw: unknown, what: string): Descriptor {
  const d = raw as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object' || typeof d.digest !== 'string' || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new FailedPreconditionError(`${what}: malformed descriptor`);
  }
  requireSha256(d.digest, what);
  return { mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', digest: d.digest, size: d.size, platform: d.platform, urls: d.urls };
}

/** Parses a manifest body of any accepted kind; schema 1 and unknown kinds are refused clearly. */
export function parseManifest(body: Buffer, contentType: string): ImageManifest | ImageIndex {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new FailedPreconditionError('manifest is not valid JSON');
  }
  const mediaType = (typeof doc.mediaType === 'string' && doc.mediaType) || contentType.split(';')[0]!.trim();
  if (doc.schemaVersion === 1 || mediaType === MEDIA.dockerSchema1 || mediaType === MEDIA.dockerSchema1Signed) {
    throw new FailedPreconditionError('Docker image manifest schema 1 is not supported (deprecated); push the image again with a current client');
  }
  if (Array.isArray(doc.manifests)) {
    return { kind: 'index', manifests: doc.manifests.map((m, i) => descriptor(m, `index entry ${i}`)) };
  }
  if (doc.config && Array.isArray(doc.layers)) {
    const layers = doc.layers.map((l, i) => descriptor(l, `layer ${i}`));
    for (const layer of layers) {
      if (layer.mediaType && !LAYER_MEDIA_TYPES.has(layer.mediaType)) {
        throw new FailedPreconditionError(`layer ${layer.digest} has unsupported media type ${layer.mediaType}`);
      }
    }
    return { kind: 'manifest', config: descriptor(doc.config, 'config'), layers };
  }
  throw new FailedPreconditionError(`unsupported manifest media type "${mediaType || 'unknown'}"`);
}

const ARCH_OF_NODE: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The platform this node runs, or the configured `os/arch[/variant]`. */
export function hostPlatform(configured: string): Platform {
  if (configured) {
    const [os, architecture, variant] = configured.split('/');
    if (!os || !architecture) throw new InvalidArgumentError(`config: image.default_platform: expected os/arch[/variant], got "${configured}"`);
    return { os, architecture, variant };
  }
  const architecture = ARCH_OF_NODE[process.arch] ?? process.arch;
  const variant = architecture === 'arm64' ? 'v8' : architecture === 'arm' ? `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}` : undefined;
  return { os: 'linux', architecture, variant };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function variantRank(wanted: string | undefined, offered: string | undefined): number {
  if (offered === wanted) return 3;
  if (!offered || !wanted) return 2;
  // An armv7 node runs v6 and v5 code; never the reverse.
  const w = Number(wanted.slice(1));
  const o = Number(offered.slice(1));
  return wanted.startsWith('v') && offered.startsWith('v') && o < w ? 1 : -1;
}

/** Picks this node's entry of an index, or explains which platforms the index has. */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor {
  let best: Descriptor | undefined;
  let bestRank = -1;
  for (const entry of index.manifests) {
    const p = entry.platform;
    if (!p || p.os !== want.os || p.architecture !== want.architecture) continue;
    const rank = variantRank(want.variant, p.variant);
    if (rank > bestRank) {
      best = entry;
      bestRank = rank;
    }
  }
  if (!best) {
    const offered = index.manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
    throw new NotFoundError(`no image for platform ${formatPlatform(want)} in the index (it has: ${offered.join(', ') || 'no platform entries'})`);
  }
  return best;
}

/** chainID(n) = sha256(chainID(n-1) + " " + diffID(n)); chainID(0) = diffID(0). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    out.push(out.length === 0 ? diffId : sha256Digest(`${out[out.length - 1]} ${diffId}`));
  }
  return out;
}
