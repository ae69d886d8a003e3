import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { CancelledError, DeadlineExceededError, FailedPreconditionError, isRuntimeError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { compressionOf, type LayerMeta, type LayerStore, type UnpackLease, type UnpackPool, type UnpackStats } from '../storage/index.js';
import { nowNanos } from '../util/time.js';
import type { Endpoint } from './endpoints.js';
import {
  chainIds, formatPlatform, MANIFEST_ACCEPT, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseManifest, requireSha256, selectPlatform, sha256Digest,
  type Descriptor, type ImageManifest, type Platform,
} from './manifest.js';
import { repositoryName, taggedName, type ImageReference } from './reference.js';
import { RegistryClient, TransientRegistryError } from './registry-client.js';
import type { Semaphore, SharedJobs } from './shared-jobs.js';
import { DigestMismatchError, verifiedBlob } from './streams.js';
import type { ImageRecord, ImageRuntimeConfig, RegistryAuth } from './types.js';

export interface PullContext {
  client: RegistryClient;
  layers: LayerStore;
  /** Worker threads that decompress, hash and unpack layers. */
  unpacker: UnpackPool;
  layerJobs: SharedJobs<LayerMeta>;
  downloads: Semaphore;
  platform: Platform;
  stallMs: number;
  log: Logger;
  /** Credentials for one endpoint (the request's, or the credentials file's). */
  authFor: (ep: Endpoint) => RegistryAuth | undefined;
  /** Marks chain IDs as in use until the pull ends, so garbage collection leaves them. */
  protect: (chainIds: readonly string[]) => () => void;
}

export interface PullResult {
  record: ImageRecord;
  /** Manifest, index and config bodies, for the content store. */
  blobs: Map<string, Buffer>;
  /** Ends the layers' protection from garbage collection: call once the record is committed. */
  release: () => void;
  /** Layers already in the store, and those this pull fetched with their compressed bytes. */
  layerCounts: { reused: number; fetched: number; fetchedBytes: number };
}

interface Resolved {
  ep: Endpoint;
  topDigest: string;
  manifestDigest: string;
  manifest: ImageManifest;
  platform: string;
  blobs: Map<string, Buffer>;
}

const ATTEMPTS = 3;
const BACKOFF_MS = 300;

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new CancelledError('pull cancelled');
}

/** Network failures and 429/5xx are worth another try; wrong content never is. */
function isTransient(err: unknown): boolean {
  if (err instanceof TransientRegistryError) return true;
  if (isRuntimeError(err)) return false;
  const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code;
  return code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || messageOf(err) === 'terminated';
}

async function withRetries<T>(what: string, signal: AbortSignal, log: Logger, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted) throw abortReason(signal);
      if (attempt >= ATTEMPTS || !isTransient(err)) throw err;
      log.warn({ what, attempt, error: messageOf(err) }, 'transient registry error, retrying');
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS * 2 ** (attempt - 1)));
    }
  }
}

async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  const announced = Number(res.headers.get('content-length') ?? '0');
  if (announced > limit) {
    await res.body?.cancel().catch(() => undefined);
    throw new FailedPreconditionError(`${what}: ${announced} bytes is over the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of Readable.fromWeb(res.body as WebReadableStream<Uint8Array>)) {
    total += (chunk as Buffer).length;
    if (total > limit) throw new FailedPreconditionError(`${what}: over the ${limit}-byte limit`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Fetches one small document by tag or digest, verified when its digest is known. */
async function fetchVerified(ctx: PullContext, ep: Endpoint, kind: 'manifests' | 'blobs', reference: string, expected: string | undefined, limit: number, signal: AbortSignal): Promise<{ body: Buffer; digest: string; contentType: string }> {
  const what = `${kind === 'manifests' ? 'manifest' : 'blob'} ${ep.host}/${ep.repo}${reference.includes(':') ? '@' : ':'}${reference}`;
  return withRetries(what, signal, ctx.log, async () => {
    const res = await ctx.client.get(ep, `${kind}/${reference}`, { accept: kind === 'manifests' ? MANIFEST_ACCEPT : undefined, auth: ctx.authFor(ep), signal });
    await RegistryClient.check(res, what);
    const body = await readLimited(res, limit, what);
    const digest = sha256Digest(body);
    if (expected && digest !== expected) throw new DigestMismatchError(`${what}: content digest ${digest} does not match ${expected}`);
    return { body, digest, contentType: res.headers.get('content-type') ?? '' };
  });
}

async function resolveAt(ctx: PullContext, ep: Endpoint, ref: ImageReference, signal: AbortSignal): Promise<Resolved> {
  const blobs = new Map<string, Buffer>();
  const top = await fetchVerified(ctx, ep, 'manifests', ref.digest ?? ref.tag!, ref.digest, MAX_MANIFEST_BYTES, signal);
  blobs.set(top.digest, top.body);
  let parsed = parseManifest(top.body, top.contentType);
  let manifestDigest = top.digest;
  let platform = formatPlatform(ctx.platform);
  if (parsed.kind === 'index') {
    const entry = selectPlatform(parsed, ctx.platform);
    if (entry.platform) platform = formatPlatform(entry.platform);
    const child = await fetchVerified(ctx, ep, 'manifests', entry.digest, entry.digest, MAX_MANIFEST_BYTES, signal);
    blobs.set(child.digest, child.body);
    parsed = parseManifest(child.body, child.contentType);
    manifestDigest = child.digest;
    if (parsed.kind !== 'manifest') throw new FailedPreconditionError(`index entry ${entry.digest} is itself an index; nested indexes are not supported`);
  }
  return { ep, topDigest: top.digest, manifestDigest, manifest: parsed, platform, blobs };
}

/** Tries the mirrors in order, then the upstream; the upstream's failure is the one reported. */
async function resolve(ctx: PullContext, endpoints: readonly Endpoint[], ref: ImageReference, signal: AbortSignal): Promise<Resolved> {
  let lastError: unknown;
  for (const ep of endpoints) {
    try {
      return await resolveAt(ctx, ep, ref, signal);
    } catch (err) {
      if (signal.aborted) throw abortReason(signal);
      lastError = err;
      if (ep.mirror) ctx.log.info({ mirror: ep.host, error: messageOf(err) }, 'mirror could not serve the image, trying the next endpoint');
    }
  }
  throw lastError;
}

interface OciImageConfig {
  created?: string;
  config?: ImageRuntimeConfig;
  rootfs?: { type?: string; diff_ids?: string[] };
}

function pickRuntimeConfig(config: ImageRuntimeConfig | undefined): ImageRuntimeConfig {
  const out: ImageRuntimeConfig = {};
  if (!config) return out;
  if (config.User) out.User = config.User;
  if (config.Env) out.Env = config.Env;
  if (config.Entrypoint) out.Entrypoint = config.Entrypoint;
  if (config.Cmd) out.Cmd = config.Cmd;
  if (config.WorkingDir) out.WorkingDir = config.WorkingDir;
  if (config.StopSignal) out.StopSignal = config.StopSignal;
  if (config.ExposedPorts) out.ExposedPorts = config.ExposedPorts;
  if (config.Volumes) out.Volumes = config.Volumes;
  if (config.Labels) out.Labels = config.Labels;
  return out;
}

/**
 * Streams one layer blob, its digest and size checked on the way, to an unpack worker that
 * decompresses, unpacks and hashes it in one pass; the uncompressed digest must be the image
 * config's diff ID.
 */
async function fetchAndUnpack(ctx: PullContext, lease: UnpackLease, ep: Endpoint, desc: Descriptor, diffId: string, dir: string, signal: AbortSignal): Promise<UnpackStats> {
  const what = `layer ${desc.digest}`;
  // The watchdog covers the wait for response headers too.
  const headerWait = new AbortController();
  const timer = setTimeout(() => headerWait.abort(new DeadlineExceededError(`${what}: stalled, no response for ${Math.round(ctx.stallMs / 1000)} s`)), ctx.stallMs);
  const fetchSignal = AbortSignal.any([signal, headerWait.signal]);
  let res: Response;
  try {
    res = await ctx.client.get(ep, `blobs/${desc.digest}`, { auth: ctx.authFor(ep), signal: fetchSignal });
  } catch (err) {
    if (headerWait.signal.aborted) throw abortReason(headerWait.signal);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  await RegistryClient.check(res, what);
  // The header wait's controller now watches the body: a stall aborts the download.
  const source = verifiedBlob(res.body as WebReadableStream<Uint8Array>, desc, what, ctx.stallMs, (err) => headerWait.abort(err));
  let stats: UnpackStats;
  try {
    stats = await lease.unpack(source, dir, compressionOf(desc.mediaType), signal);
  } catch (err) {
    if (signal.aborted) throw abortReason(signal);
    if (isRuntimeError(err) || isTransient(err)) throw err;
    throw new FailedPreconditionError(`${what}: ${messageOf(err)}`, { cause: err });
  }
  if (stats.diffId !== diffId) throw new DigestMismatchError(`${what}: uncompressed content digest ${stats.diffId} does not match the image config's diff ID ${diffId}`);
  return stats;
}

function layerJob(ctx: PullContext, ep: Endpoint, desc: Descriptor, diffId: string, chainId: string) {
  return async (signal: AbortSignal): Promise<LayerMeta> => {
    const release = await ctx.downloads.acquire(signal);
    let lease: UnpackLease | undefined;
    try {
      // A worker first: a download must not start and then wait, stalled, for one.
      lease = await ctx.unpacker.acquire(signal);
      const worker = lease;
      return await withRetries(`layer ${desc.digest}`, signal, ctx.log, async () => {
        const temp = await ctx.layers.createTemp();
        try {
          const started = Date.now();
          const stats = await fetchAndUnpack(ctx, worker, ep, desc, diffId, join(temp, 'diff'), signal);
          if (stats.skippedXattrCount > 0) ctx.log.warn({ layer: desc.digest, count: stats.skippedXattrCount, xattrs: stats.skippedXattrs }, 'extended attributes not applied');
          const meta = await ctx.layers.commit(chainId, temp, stats);
          ctx.log.debug({ layer: desc.digest, chainId, ms: Date.now() - started, bytes: desc.size }, 'layer unpacked');
          return meta;
        } catch (err) {
          await ctx.layers.discardTemp(temp);
          throw err;
        }
      });
    } finally {
      lease?.release();
      release();
    }
  };
}

/**
 * Pulls one image: manifest (through an index when there is one), config, then the layers
 * this store lacks, in parallel. Returns the record to commit; nothing is committed here.
 */
export async function pullImage(ctx: PullContext, ref: ImageReference, endpoints: readonly Endpoint[], outer: AbortSignal): Promise<PullResult> {
  const resolved = await resolve(ctx, endpoints, ref, outer);
  const { ep, manifest } = resolved;
  requireSha256(manifest.config.digest, 'config');
  const configBlob = await fetchVerified(ctx, ep, 'blobs', manifest.config.digest, manifest.config.digest, MAX_CONFIG_BYTES, outer);
  resolved.blobs.set(configBlob.digest, configBlob.body);
  let config: OciImageConfig;
  try {
    config = JSON.parse(configBlob.body.toString('utf8')) as OciImageConfig;
  } catch {
    throw new FailedPreconditionError(`image config ${manifest.config.digest} is not valid JSON`);
  }
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length) {
    throw new FailedPreconditionError(`image config lists ${diffIds.length} diff IDs for ${manifest.layers.length} layers`);
  }
  diffIds.forEach((d) => requireSha256(d, 'diff ID'));
  const chain = chainIds(diffIds);
  const unprotect = ctx.protect(chain);
  // One failed layer stops the others this pull waits for.
  const pull = new AbortController();
  const stop = (): void => pull.abort(abortReason(outer));
  outer.addEventListener('abort', stop, { once: true });
  const layerCounts = { reused: 0, fetched: 0, fetchedBytes: 0 };
  try {
    const metas = await Promise.all(manifest.layers.map(async (desc, i) => {
      const chainId = chain[i]!;
      const have = ctx.layers.meta(chainId);
      if (have) {
        layerCounts.reused++;
        return have;
      }
      layerCounts.fetched++;
      layerCounts.fetchedBytes += desc.size;
      try {
        return await ctx.layerJobs.run(chainId, layerJob(ctx, ep, desc, diffIds[i]!, chainId), pull.signal);
      } catch (err) {
        if (!pull.signal.aborted) pull.abort(err);
        throw err;
      }
    }));
    const record: ImageRecord = {
      id: manifest.config.digest,
      repoTags: ref.tag ? [taggedName(ref)!] : [],
      repoDigests: [`${repositoryName(ref)}@${resolved.topDigest}`],
      size: metas.reduce((sum, m) => sum + m.bytes, 0),
      layers: chain,
      diffIds,
      blobs: [...resolved.blobs.keys()],
      config: pickRuntimeConfig(config.config),
      platform: resolved.platform,
      created: config.created,
      pulledAt: nowNanos().toString(),
    };
    return { record, blobs: resolved.blobs, release: unprotect, layerCounts };
  } catch (err) {
    // The other layers' jobs were stopped; what they finish meanwhile is collected only after.
    await ctx.layerJobs.abandonedEnded(chain);
    unprotect();
    if (outer.aborted) throw abortReason(outer);
    throw err;
  } finally {
    outer.removeEventListener('abort', stop);
  }
}
