import type { Config } from '../config/index.js';
import { CancelledError, isRuntimeError, messageOf } from '../errors/index.js';
import { failpoint } from '../failpoints/index.js';
import type { Logger } from '../log/index.js';
import type { StateStore } from '../state/index.js';
import type { LayerMeta, Storage } from '../storage/index.js';
import { ContentStore } from './content-store.js';
import { credentialsFromFile } from './credentials.js';
import { endpointsFor, type Endpoint } from './endpoints.js';
import { ImageStore } from './image-store.js';
import { hostPlatform, type Platform } from './manifest.js';
import type { PullContext } from './pull.js';
import { formatReference, parseReference, tryParseReference } from './reference.js';
import type { RegistryClient } from './registry-client.js';
import { Semaphore, SharedJobs } from './shared-jobs.js';
import type { FsUsage, ImageRecord, RegistryAuth } from './types.js';

/** What a pull reports to the runtime's metrics. */
export interface PullMetrics {
  imagePullBytes(bytes: number): void;
  imagePullDone(seconds: number): void;
  imagePullFailed(reason: string): void;
  imageLayers(reused: number, fetched: number): void;
}

export interface ImageServiceDeps {
  config: Config;
  state: StateStore;
  storage: Storage;
  log: Logger;
  metrics?: PullMetrics;
}

/** A short, bounded label for a failed pull, from its error kind. */
function pullFailureReason(err: unknown): string {
  if (!isRuntimeError(err)) return 'other';
  switch (err.kind) {
    case 'not_found': return 'not_found';
    case 'invalid_argument': return 'invalid_reference';
    case 'failed_precondition': return 'content';
    case 'deadline_exceeded': return 'stalled';
    case 'cancelled': return 'cancelled';
    case 'unavailable': return 'network';
    default: return 'other';
  }
}

/**
 * The ImageService: pulls into the content and layer stores, and answers from the in-memory
 * image index. A record is committed only after every layer is in place.
 */
export class ImageService {
  private readonly images: ImageStore;
  private readonly content: ContentStore;
  /** Made with the first pull: the pull code (registry client, manifests, HTTP) loads only then. */
  private client: RegistryClient | undefined;
  private readonly layerJobs = new SharedJobs<LayerMeta>();
  private readonly downloads: Semaphore;
  /** Chain IDs pulls in progress rely on: garbage collection must not take them. */
  private readonly protectedLayers = new Map<string, number>();
  private readonly pinned: Set<string>;
  private readonly platform: Platform;
  private readonly stopping = new AbortController();
  private gcRunning: Promise<void> = Promise.resolve();
  /** Pulls between their first request and their commit; their blobs are not yet referenced. */
  private activePulls = 0;

  constructor(private readonly deps: ImageServiceDeps) {
    this.images = new ImageStore(deps.state);
    this.content = new ContentStore(deps.config.root);
    this.downloads = new Semaphore(deps.config.image.max_concurrent_downloads);
    this.platform = hostPlatform(deps.config.image.default_platform);
    this.pinned = new Set<string>();
    for (const name of [...deps.config.image.pinned_images, deps.config.runtime.infra_image]) {
      const ref = name ? tryParseReference(name) : undefined;
      if (ref) this.pinned.add(formatReference(ref));
      else if (name) deps.log.warn({ image: name }, 'pinned image is not a valid reference; ignored');
    }
  }

  /**
   * Loads the records. What a killed pull left (layers and blobs no image holds) goes with
   * the next `gc`, which the daemon runs once it answers.
   */
  async recover(): Promise<void> {
    this.content.init();
    this.images.load();
  }

  private async registryClient(): Promise<RegistryClient> {
    if (!this.client) {
      const { RegistryClient: Client } = await import('./registry-client.js');
      this.client ??= new Client(this.deps.log.child({ component: 'registry' }));
    }
    return this.client;
  }

  stop(): void {
    this.stopping.abort(new CancelledError('runcri is stopping'));
  }

  async pull(reference: string, auth?: RegistryAuth, signal?: AbortSignal): Promise<ImageRecord> {
    const ref = parseReference(reference);
    const endpoints = endpointsFor(ref, this.deps.config.image.registries);
    const log = this.deps.log.child({ image: formatReference(ref) });
    const ctx: PullContext = {
      client: await this.registryClient(),
      layers: this.deps.storage.layers,
      unpacker: this.deps.storage.unpacker,
      layerJobs: this.layerJobs,
      downloads: this.downloads,
      platform: this.platform,
      stallMs: this.deps.config.image.stall_timeout_seconds * 1000,
      log,
      authFor: (ep) => this.authFor(ep, auth),
      protect: (chain) => this.protect(chain),
    };
    const started = Date.now();
    const outer = signal ? AbortSignal.any([signal, this.stopping.signal]) : this.stopping.signal;
    this.activePulls++;
    let failed = false;
    try {
      const { pullImage } = await import('./pull.js');
      const result = await pullImage(ctx, ref, endpoints, outer);
      try {
        for (const [digest, body] of result.blobs) {
          await this.content.put(digest, body);
          failpoint('image.pull.mid-commit');
        }
        const record = this.images.commit(result.record);
        log.info({ id: record.id, layers: record.layers.length, ms: Date.now() - started }, 'image pulled');
        const metrics = this.deps.metrics;
        metrics?.imagePullDone((Date.now() - started) / 1000);
        metrics?.imagePullBytes(result.layerCounts.fetchedBytes);
        metrics?.imageLayers(result.layerCounts.reused, result.layerCounts.fetched);
        return record;
      } finally {
        result.release();
      }
    } catch (err) {
      this.deps.metrics?.imagePullFailed(pullFailureReason(err));
      failed = true;
      throw err;
    } finally {
      this.activePulls--;
      // What a failed pull stored and no image holds (layers unpacked beside the one that
      // failed, blobs stored before the commit) goes now, not at the next removal or start.
      if (failed) await this.gc().catch((err: unknown) => log.warn({ err: messageOf(err) }, 'collecting what a failed pull left'));
    }
  }

  private authFor(ep: Endpoint, requested: RegistryAuth | undefined): RegistryAuth | undefined {
    // The request's credentials are for the image's registry, not for a mirror in front of it.
    if (requested && !ep.mirror) return requested;
    return credentialsFromFile(this.deps.config.image.credentials_file, ep.host);
  }

  private protect(chain: readonly string[]): () => void {
    for (const c of chain) this.protectedLayers.set(c, (this.protectedLayers.get(c) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const c of chain) {
        const n = (this.protectedLayers.get(c) ?? 1) - 1;
        if (n <= 0) this.protectedLayers.delete(c);
        else this.protectedLayers.set(c, n);
      }
    };
  }

  /** All images, or those the filter reference names. */
  list(filter?: string): ImageRecord[] {
    if (!filter) return this.images.list();
    const found = this.images.find(filter);
    return found ? [found.record] : [];
  }

  status(refOrId: string): ImageRecord | undefined {
    return this.images.find(refOrId)?.record;
  }

  resolve(refOrId: string): ImageRecord | undefined {
    return this.status(refOrId);
  }

  isPinned(record: ImageRecord): boolean {
    return record.repoTags.some((t) => this.pinned.has(t)) || record.repoDigests.some((d) => this.pinned.has(d));
  }

  /** The full OCI image config, for verbose status. */
  imageConfig(record: ImageRecord): unknown {
    const blob = this.content.get(record.id);
    return blob ? (JSON.parse(blob.toString('utf8')) as unknown) : undefined;
  }

  /**
   * Removes by tag (only that tag, when the image has others), or the whole image by ID or
   * digest; then collects what no image uses. Removing an absent image succeeds.
   */
  async remove(refOrId: string): Promise<void> {
    const found = this.images.find(refOrId);
    if (!found) return;
    if (found.byTag && found.record.repoTags.length > 1) {
      this.images.untag(found.record, found.byTag);
    } else {
      this.images.delete(found.record);
    }
    await this.gc();
  }

  fsInfo(): FsUsage {
    return this.deps.storage.usage();
  }

  /** Image volumes of these images were released: the layers of any image removed while they were mounted go now. */
  async imageVolumesReleased(imageIds: readonly string[]): Promise<void> {
    if (imageIds.some((id) => !this.status(id))) await this.gc();
  }

  /** Deletes layers and blobs that no image, container root filesystem or running pull holds. */
  gc(): Promise<void> {
    this.gcRunning = this.gcRunning.then(() => this.collect(), () => this.collect());
    return this.gcRunning;
  }

  private async collect(): Promise<void> {
    const keepLayers = await this.deps.storage.layersInUseByContainers();
    const keepBlobs = new Set<string>();
    for (const record of this.images.list()) {
      record.layers.forEach((l) => keepLayers.add(l));
      keepBlobs.add(record.id);
      record.blobs.forEach((b) => keepBlobs.add(b));
    }
    for (const meta of this.deps.storage.layers.list()) {
      if (!keepLayers.has(meta.chainId) && !this.protectedLayers.has(meta.chainId)) {
        await this.deps.storage.layers.remove(meta.chainId);
        this.deps.log.debug({ chainId: meta.chainId }, 'layer removed');
      }
    }
    for (const digest of this.content.list()) {
      if (!keepBlobs.has(digest) && this.activePulls === 0) await this.content.delete(digest);
    }
  }
}
