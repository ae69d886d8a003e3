import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InternalError } from '../errors/index.js';
import { failpoint } from '../failpoints/index.js';
import type { Logger } from '../log/index.js';
import { removeTree } from './remove-tree.js';

export interface LayerMeta {
  chainId: string;
  /** Name under `l/`, short so 128 lower layers fit in one mount's options. */
  short: string;
  bytes: number;
  inodes: number;
}

const SHORT_LENGTH = 16;
const CHAIN_ID = /^sha256:[a-f0-9]{64}$/;

function hexOf(chainId: string): string {
  if (!CHAIN_ID.test(chainId)) throw new InternalError(`not a chain ID: ${chainId}`);
  return chainId.slice('sha256:'.length);
}

/**
 * Unpacked layers, one directory per chain ID: `layers/<hex>/diff` plus `meta.json`, and a
 * short symlink `l/<short>` → `../layers/<hex>/diff`. A layer is written under `tmp/` and
 * renamed into place only when complete, so a directory under `layers/` is always whole.
 * Trees that cannot be deleted (see removeTree) are moved into `leftovers/`, tried again at
 * each start, and never stop the store from working.
 */
export class LayerStore {
  readonly layersDir: string;
  readonly linksDir: string;
  readonly tmpDir: string;
  readonly leftoversDir: string;
  private readonly layers = new Map<string, LayerMeta>();

  constructor(readonly root: string, private readonly log: Logger) {
    this.layersDir = join(root, 'layers');
    this.linksDir = join(root, 'l');
    this.tmpDir = join(root, 'tmp');
    this.leftoversDir = join(root, 'leftovers');
  }

  /** Deletes an untrusted tree; one that stays is moved into `leftovers/`. */
  removeTree(path: string): Promise<boolean> {
    return removeTree(path, this.log, this.leftoversDir);
  }

  /** Creates the tree, discards what an interrupted unpack left, and indexes whole layers. */
  async init(): Promise<void> {
    for (const dir of [this.root, this.layersDir, this.linksDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (existsSync(this.leftoversDir)) {
      for (const name of readdirSync(this.leftoversDir)) await removeTree(join(this.leftoversDir, name), this.log);
    }
    await this.removeTree(this.tmpDir);
    mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
    for (const hex of readdirSync(this.layersDir)) {
      const dir = join(this.layersDir, hex);
      try {
        const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as LayerMeta;
        this.layers.set(meta.chainId, meta);
        this.ensureLinkSync(meta);
      } catch {
        await this.removeTree(dir);
      }
    }
  }

  has(chainId: string): boolean {
    return this.layers.has(chainId);
  }

  meta(chainId: string): LayerMeta | undefined {
    return this.layers.get(chainId);
  }

  list(): LayerMeta[] {
    return [...this.layers.values()];
  }

  /** A fresh work directory with an empty `diff/` to unpack into. */
  async createTemp(): Promise<string> {
    const dir = await mkdtemp(join(this.tmpDir, 'layer-'));
    await mkdir(join(dir, 'diff'), { mode: 0o755 });
    return dir;
  }

  async discardTemp(dir: string): Promise<void> {
    await this.removeTree(dir);
  }

  /** Moves a finished work directory into place; a layer that appeared meanwhile wins. */
  async commit(chainId: string, temp: string, stats: { bytes: number; inodes: number }): Promise<LayerMeta> {
    const existing = this.layers.get(chainId);
    if (existing) {
      await this.discardTemp(temp);
      return existing;
    }
    const hex = hexOf(chainId);
    const meta: LayerMeta = { chainId, short: await this.pickShort(hex), bytes: stats.bytes, inodes: stats.inodes };
    await writeFile(join(temp, 'meta.json'), JSON.stringify(meta));
    failpoint('image.pull.before-layer-rename');
    await rename(temp, join(this.layersDir, hex));
    this.layers.set(chainId, meta);
    await this.ensureLink(meta);
    return meta;
  }

  private async pickShort(hex: string): Promise<string> {
    const candidate = hex.slice(0, SHORT_LENGTH).toUpperCase();
    const target = `../layers/${hex}/diff`;
    const current = await readlink(join(this.linksDir, candidate)).catch(() => undefined);
    if (current === undefined || current === target) return candidate;
    return randomBytes(SHORT_LENGTH / 2).toString('hex').toUpperCase();
  }

  private linkTarget(meta: LayerMeta): string {
    return `../layers/${hexOf(meta.chainId)}/diff`;
  }

  private async ensureLink(meta: LayerMeta): Promise<void> {
    const path = join(this.linksDir, meta.short);
    const current = await readlink(path).catch(() => undefined);
    if (current === this.linkTarget(meta)) return;
    if (current !== undefined) await rm(path, { force: true });
    await symlink(this.linkTarget(meta), path);
  }

  private ensureLinkSync(meta: LayerMeta): void {
    const path = join(this.linksDir, meta.short);
    let current: string | undefined;
    try {
      current = readlinkSync(path);
    } catch {
      current = undefined;
    }
    if (current === this.linkTarget(meta)) return;
    rmSync(path, { force: true });
    symlinkSync(this.linkTarget(meta), path);
  }

  /** Short link names of `chainIds`, for overlay's lowerdir (relative to the store root). */
  lowerDirs(chainIds: readonly string[]): string[] {
    return chainIds.map((c) => {
      const meta = this.layers.get(c);
      if (!meta) throw new InternalError(`layer ${c} is not in the layer store`);
      return `l/${meta.short}`;
    });
  }

  /** Removes a layer: renamed away first so it vanishes at once, then deleted. */
  async remove(chainId: string): Promise<void> {
    const meta = this.layers.get(chainId);
    if (!meta) return;
    this.layers.delete(chainId);
    await rm(join(this.linksDir, meta.short), { force: true });
    const dir = join(this.layersDir, hexOf(chainId));
    if (!existsSync(dir)) return;
    const doomed = join(this.tmpDir, `gone-${hexOf(chainId).slice(0, 16)}-${randomBytes(4).toString('hex')}`);
    await rename(dir, doomed);
    await this.removeTree(doomed);
  }
}
