/**
 * Builds test images from static binaries (layer tarballs from tar-writer, OCI and Docker
 * schema2 manifests and indexes) and pushes them through the registry HTTP API v2.
 */
import type { ImageRuntimeConfig } from '../../lib/image/index.js';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tarBytes, type TarEntrySpec, type TarOptions } from './tar-writer.js';

export type Compression = 'gzip' | 'zstd' | 'none';
export type Flavor = 'oci' | 'docker';

export type EntrySpec = TarEntrySpec;

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  data: Buffer;
}

export interface LayerBlob extends Blob {
  diffId: string;
}

/** The image config's `config` object: what runcri keeps of it is what a test image may set. */
export type RuntimeConfig = ImageRuntimeConfig;

export interface BuiltImage {
  config: Blob;
  manifest: Blob;
  layers: LayerBlob[];
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export async function buildTar(entries: EntrySpec[], options: TarOptions = {}): Promise<Buffer> {
  return tarBytes(entries, options);
}

export function compress(data: Buffer, compression: Compression): Buffer {
  if (compression === 'gzip') return gzipSync(data, { level: 6 });
  if (compression === 'zstd') {
    const r = spawnSync('zstd', ['-c', '-q', '-3'], { input: data, maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
    return r.stdout;
  }
  return data;
}

function layerMediaType(compression: Compression, flavor: Flavor): string {
  if (flavor === 'docker') {
    if (compression === 'zstd') throw new Error('Docker schema2 has no zstd layers');
    return compression === 'gzip' ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.docker.image.rootfs.diff.tar';
  }
  return `application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : `+${compression}`}`;
}

export async function makeLayer(entries: EntrySpec[], compression: Compression = 'gzip', flavor: Flavor = 'oci'): Promise<LayerBlob> {
  return layerFromTar(await buildTar(entries), compression, flavor);
}

export function layerFromTar(tarData: Buffer, compression: Compression = 'gzip', flavor: Flavor = 'oci'): LayerBlob {
  const data = compress(tarData, compression);
  return { mediaType: layerMediaType(compression, flavor), digest: sha256(data), size: data.length, data, diffId: sha256(tarData) };
}

/** busybox at /bin/busybox with a few applet links, as a base layer. */
export function busyboxEntries(): EntrySpec[] {
  const busybox = readFileSync('/bin/busybox');
  const applets = ['sh', 'ls', 'cat', 'echo', 'sleep', 'id', 'true', 'env', 'top', 'ps'];
  return [
    { path: 'bin/', type: 'directory' },
    { path: 'bin/busybox', content: busybox, mode: 0o755 },
    ...applets.map((a): EntrySpec => ({ path: `bin/${a}`, type: 'link', linkname: 'bin/busybox' })),
    { path: 'etc/', type: 'directory' },
    { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' },
    { path: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
    { path: 'tmp/', type: 'directory', mode: 0o1777 },
  ];
}

export function buildImage(layers: LayerBlob[], options: { config?: RuntimeConfig; flavor?: Flavor; architecture?: string; os?: string; variant?: string } = {}): BuiltImage {
  const flavor = options.flavor ?? 'oci';
  const configDoc = {
    created: '2024-01-01T00:00:00Z',
    architecture: options.architecture ?? 'amd64',
    os: options.os ?? 'linux',
    ...(options.variant ? { variant: options.variant } : {}),
    config: options.config ?? {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'runcri test helper' })),
  };
  const configData = Buffer.from(JSON.stringify(configDoc));
  const config: Blob = {
    mediaType: flavor === 'oci' ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json',
    digest: sha256(configData),
    size: configData.length,
    data: configData,
  };
  const manifestType = flavor === 'oci' ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json';
  const manifestDoc = {
    schemaVersion: 2,
    mediaType: manifestType,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifestData = Buffer.from(JSON.stringify(manifestDoc));
  return { config, layers, manifest: { mediaType: manifestType, digest: sha256(manifestData), size: manifestData.length, data: manifestData } };
}

export interface IndexEntry {
  image: BuiltImage;
  platform: { os: string; architecture: string; variant?: string };
}

export function buildIndex(entries: IndexEntry[], flavor: Flavor = 'oci'): Blob {
  const mediaType = flavor === 'oci' ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.docker.distribution.manifest.list.v2+json';
  const doc = {
    schemaVersion: 2,
    mediaType,
    manifests: entries.map((e) => ({ mediaType: e.image.manifest.mediaType, digest: e.image.manifest.digest, size: e.image.manifest.size, platform: e.platform })),
  };
  const data = Buffer.from(JSON.stringify(doc));
  return { mediaType, digest: sha256(data), size: data.length, data };
}

async function expectOk(res: Response, what: string): Promise<void> {
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status}: ${await res.text()}`);
}

export async function pushBlob(host: string, repo: string, blob: { digest: string; data: Buffer }): Promise<void> {
  const head = await fetch(`http://${host}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
  if (head.ok) return;
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await expectOk(start, `start upload to ${repo}`);
  await start.arrayBuffer();
  const location = new URL(start.headers.get('location')!, `http://${host}`);
  location.searchParams.set('digest', blob.digest);
  const put = await fetch(location, { method: 'PUT', body: blob.data, headers: { 'content-type': 'application/octet-stream' } });
  await expectOk(put, `upload ${blob.digest} to ${repo}`);
  await put.arrayBuffer();
}

export async function pushManifest(host: string, repo: string, reference: string, manifest: Blob): Promise<void> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: manifest.data, headers: { 'content-type': manifest.mediaType } });
  await expectOk(res, `push manifest ${repo}:${reference}`);
  await res.arrayBuffer();
}

/** Pushes layers, config and manifest; tagged when `tag` is given, else by digest only. */
export async function pushImage(host: string, repo: string, tag: string | undefined, image: BuiltImage): Promise<void> {
  for (const layer of image.layers) await pushBlob(host, repo, layer);
  await pushBlob(host, repo, image.config);
  await pushManifest(host, repo, tag ?? image.manifest.digest, image.manifest);
}

export async function pushIndex(host: string, repo: string, tag: string, index: Blob, images: BuiltImage[]): Promise<void> {
  for (const image of images) await pushImage(host, repo, undefined, image);
  await pushManifest(host, repo, tag, index);
}

/** The architecture name the daemon will look for in an index on this machine. */
export function hostArchitecture(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[process.arch] ?? process.arch;
}
