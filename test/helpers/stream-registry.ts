/**
 * A registry of a test's own on loopback (plain HTTP, read-only) that serves what no real
 * registry would hold: manifests that never end and layers of gigabytes, generated as they
 * are sent, so the test process holds none of it either.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGunzip, createGzip } from 'node:zlib';
import { buildImage, type LayerBlob } from './oci-image.js';
import { headerBlock } from './tar-writer.js';

type Body = Buffer | (() => Readable);

interface Served {
  mediaType: string;
  body: Body;
}

export class StreamRegistry {
  private readonly manifests = new Map<string, Served>();
  private readonly blobs = new Map<string, Served>();
  /** Bytes sent for each blob and manifest path, counted as they go. */
  readonly sent = new Map<string, number>();

  private constructor(private readonly server: Server, readonly host: string) {}

  static async start(): Promise<StreamRegistry> {
    let registry: StreamRegistry | undefined;
    const server = createServer((req, res) => registry!.serve(req.method ?? 'GET', req.url ?? '/', res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    registry = new StreamRegistry(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return registry;
  }

  manifest(repo: string, reference: string, mediaType: string, body: Body): void {
    this.manifests.set(`${repo}/${reference}`, { mediaType, body });
  }

  blob(repo: string, digest: string, body: Body, mediaType = 'application/octet-stream'): void {
    this.blobs.set(`${repo}/${digest}`, { mediaType, body });
  }

  /**
   * Serves `repo:tag` as an image of one generated layer of `bytes` uncompressed bytes (see
   * bigLayerStream); returns that layer's digest, size and diff ID.
   */
  async bigLayerImage(repo: string, tag: string, bytes: number): Promise<Omit<LayerBlob, 'data'>> {
    const stream = bigLayerStream(bytes);
    const layer = await describeLayer(stream);
    const image = buildImage([{ ...layer, data: Buffer.alloc(0) }], { config: { Cmd: ['true'] } });
    this.blob(repo, layer.digest, stream);
    this.blob(repo, image.config.digest, image.config.data);
    this.manifest(repo, tag, 'application/vnd.oci.image.manifest.v1+json', image.manifest.data);
    return layer;
  }

  private serve(method: string, url: string, res: ServerResponse): void {
    if (url === '/v2/' || url === '/v2') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)$/.exec(url);
    const served = m ? (m[2] === 'manifests' ? this.manifests : this.blobs).get(`${m[1]}/${decodeURIComponent(m[3]!)}`) : undefined;
    if (!served) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
      return;
    }
    const headers: Record<string, string | number> = { 'content-type': served.mediaType };
    if (Buffer.isBuffer(served.body)) headers['content-length'] = served.body.length;
    res.writeHead(200, headers);
    if (method === 'HEAD') {
      res.end();
      return;
    }
    if (Buffer.isBuffer(served.body)) {
      res.end(served.body);
      return;
    }
    // A generated body goes out chunked, with no length announced: only counting stops it.
    let count = 0;
    const source = served.body();
    source.on('data', (chunk: Buffer) => {
      count += chunk.length;
      this.sent.set(url, count);
    });
    pipeline(source, res).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** An endless JSON-looking manifest (a string that never closes), `limit` bytes at most. */
export function endlessManifest(limit: number): () => Readable {
  return () => {
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 'a');
    return new Readable({
      read() {
        if (sent === 0) {
          sent = 1;
          this.push('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":"');
          return;
        }
        if (sent >= limit) {
          this.push(null);
          return;
        }
        sent += chunk.length;
        this.push(chunk);
      },
    });
  };
}

/**
 * A layer of one file of `bytes` bytes (a 64 KiB pattern over and over), as a tar stream
 * gzipped without compression (stored blocks): what the daemon downloads is as large as what
 * it unpacks, and generating it costs the test little.
 */
export function bigLayerStream(bytes: number): () => Readable {
  const pattern = createHash('sha512').update('runcri big layer').digest();
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i += pattern.length) pattern.copy(block, i);
  return () => {
    let phase: 'header' | 'data' | 'end' | 'done' = 'header';
    let left = bytes;
    const tar = new Readable({
      read() {
        if (phase === 'header') {
          phase = 'data';
          this.push(headerBlock({ name: 'big.bin', typeflag: '0', size: bytes }));
          return;
        }
        if (phase === 'data') {
          if (left > 0) {
            const n = Math.min(left, block.length);
            left -= n;
            this.push(n === block.length ? block : block.subarray(0, n));
            return;
          }
          phase = 'end';
          const pad = (512 - (bytes % 512)) % 512;
          this.push(Buffer.alloc(pad + 1024));
          return;
        }
        phase = 'done';
        this.push(null);
      },
    });
    return tar.pipe(createGzip({ level: constants.Z_NO_COMPRESSION, chunkSize: 256 * 1024 }));
  };
}

/** Digest, size and diff ID of a generated layer: one pass over it, holding nothing. */
export async function describeLayer(stream: () => Readable): Promise<Omit<LayerBlob, 'data'>> {
  const compressed = createHash('sha256');
  const uncompressed = createHash('sha256');
  let size = 0;
  const gunzip = createGunzip();
  gunzip.on('data', (c: Buffer) => uncompressed.update(c));
  const gunzipped = new Promise<void>((resolve, reject) => gunzip.on('end', resolve).on('error', reject));
  for await (const chunk of stream()) {
    compressed.update(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (!gunzip.write(chunk)) await new Promise((r) => gunzip.once('drain', r));
  }
  gunzip.end();
  await gunzipped;
  return {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: `sha256:${compressed.digest('hex')}`,
    size,
    diffId: `sha256:${uncompressed.digest('hex')}`,
  };
}
