import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256Digest } from './manifest.js';
import { DigestMismatchError } from './streams.js';

/**
 * Small blobs by digest: the manifests, indexes and configs of pulled images. Each is checked
 * against its digest before it is written, and written to a temporary name then renamed.
 * (Layer blobs are not kept: they are verified while streaming and live on unpacked.)
 */
export class ContentStore {
  private readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'content', 'sha256');
  }

  init(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.dir)) {
      if (name.startsWith('.tmp-')) void rm(join(this.dir, name), { force: true });
    }
  }

  private pathOf(digest: string): string {
    return join(this.dir, digest.slice('sha256:'.length));
  }

  async put(digest: string, data: Buffer): Promise<void> {
    if (sha256Digest(data) !== digest) throw new DigestMismatchError(`blob ${digest}: content does not match its digest`);
    const tmp = join(this.dir, `.tmp-${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, this.pathOf(digest));
  }

  get(digest: string): Buffer | undefined {
    try {
      return readFileSync(this.pathOf(digest));
    } catch {
      return undefined;
    }
  }

  list(): string[] {
    return readdirSync(this.dir).filter((n) => !n.startsWith('.tmp-')).map((hex) => `sha256:${hex}`);
  }

  async delete(digest: string): Promise<void> {
    await rm(this.pathOf(digest), { force: true });
  }
}
