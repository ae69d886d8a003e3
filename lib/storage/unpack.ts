import { chmodSync, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, rmSync, symlinkSync, utimesSync, writeSync } from 'node:fs';
import { chmod, lchown, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { FailedPreconditionError } from '../errors/index.js';
import { runCommand } from '../process/index.js';

/** A layer entry that would write outside its layer directory, or cannot be represented. */
export class UnsafeLayerEntryError extends FailedPreconditionError {}

export interface UnpackStats {
  /** Bytes of file content (and symlink targets) written. */
  bytes: number;
  /** Entries created. */
  inodes: number;
  /** Extended attributes not applied (binary values), as `path: name`. */
  skippedXattrs: string[];
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const OPAQUE_XATTR = 'trusted.overlay.opaque';
/** Files up to this size are written in the background, several at a time. */
const BACKGROUND_FILE_BYTES = 4 * 1024 * 1024;
const MAX_IN_FLIGHT = 16;
const UMASK = process.umask();

type Kind = 'dir' | 'other';

interface DirTimes {
  path: string;
  mtime: Date;
}

/**
 * Splits an entry name into clean components. Leading `/` and `.` are dropped (the entry is
 * contained in the layer); `..` is refused outright, never resolved.
 */
export function cleanEntryPath(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new UnsafeLayerEntryError(`layer entry "${name}" refused: ".." would leave the layer directory`);
    parts.push(part);
  }
  return parts.join('/');
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

function paxNumber(pax: Record<string, string> | undefined, key: string, fallback: number): number {
  const v = pax?.[key];
  if (v === undefined) return fallback;
  const n = Number(v);
  return Number.isFinite(n) ? n : fallback;
}

type EntryBody = AsyncIterable<Buffer>;

async function drain(body: EntryBody): Promise<void> {
  for await (const _chunk of body) {
    // Discarded: the entry's data has no place on disk.
  }
}

async function writeSmallFile(path: string, data: Buffer, uid: number, gid: number, mode: number, mtime: Date): Promise<void> {
  await writeFile(path, data, { flag: 'wx', mode: mode & 0o777 });
  if (uid !== 0 || gid !== 0) await lchown(path, uid, gid);
  // After chown, which clears set-id bits; only when open's mode could not say it all.
  if ((mode & ~0o777) !== 0 || (mode & UMASK) !== 0 || uid !== 0 || gid !== 0) await chmod(path, mode);
  await utimes(path, mtime, mtime);
}

/**
 * Writes one layer's entries into an empty directory. Every path is checked against what this
 * unpack itself created (the directory starts empty), so no symlink or file can redirect a
 * later entry: a parent that is not a directory created here is refused.
 */
class LayerWriter {
  private readonly kinds = new Map<string, Kind>([['', 'dir']]);
  private readonly dirTimes: DirTimes[] = [];
  /**
   * File writes still running, by path. Creating files is bound by the file system's
   * latency, not by this thread, so several go through the thread pool at once while
   * parsing goes on; anything that depends on a path waits for its write first.
   */
  private readonly inFlight = new Map<string, Promise<void>>();
  private failure: unknown;
  readonly stats: UnpackStats = { bytes: 0, inodes: 0, skippedXattrs: [] };

  constructor(private readonly root: string) {}

  private abs(rel: string): string {
    return rel ? join(this.root, rel) : this.root;
  }

  /** Creates missing parents as plain directories; refuses a parent that is anything else. */
  private ensureDir(rel: string, entryName: string): void {
    if (rel === '') return;
    const kind = this.kinds.get(rel);
    if (kind === 'dir') return;
    if (kind === 'other') throw new UnsafeLayerEntryError(`layer entry "${entryName}" refused: "${rel}" is not a directory in this layer`);
    this.ensureDir(parentOf(rel), entryName);
    mkdirSync(this.abs(rel), { mode: 0o755 });
    this.kinds.set(rel, 'dir');
    this.stats.inodes++;
  }

  /** Waits for the write of `rel` (or all writes), and fails with the first write's error. */
  private async settle(rel?: string): Promise<void> {
    if (rel === undefined) await Promise.all(this.inFlight.values());
    else await this.inFlight.get(rel);
    if (this.failure !== undefined) throw this.failure;
  }

  private launch(rel: string, work: Promise<void>): void {
    const tracked: Promise<void> = work
      .catch((err: unknown) => { this.failure ??= err; })
      .finally(() => { if (this.inFlight.get(rel) === tracked) this.inFlight.delete(rel); });
    this.inFlight.set(rel, tracked);
  }

  /** Makes room for a new entry at `rel`, replacing whatever an earlier entry put there. */
  private async clear(rel: string, keepDir: boolean): Promise<void> {
    const kind = this.kinds.get(rel);
    if (kind === undefined || (kind === 'dir' && keepDir)) return;
    await this.settle(kind === 'dir' ? undefined : rel);
    rmSync(this.abs(rel), { recursive: true, force: true });
    this.kinds.delete(rel);
    if (kind === 'dir') {
      const prefix = `${rel}/`;
      for (const key of [...this.kinds.keys()]) if (key.startsWith(prefix)) this.kinds.delete(key);
    }
  }

  async entry(header: tar.Header, body: EntryBody): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight.values());
    const rel = cleanEntryPath(header.name);
    if (rel === '') return drain(body);
    const pax = (header.pax ?? undefined) as Record<string, string> | undefined;
    const base = baseOf(rel);
    const parent = parentOf(rel);
    this.ensureDir(parent, header.name);

    if (base.startsWith(WHITEOUT_PREFIX)) {
      await drain(body);
      if (base === OPAQUE_MARKER) return this.setXattr(this.abs(parent), OPAQUE_XATTR, Buffer.from('y'));
      // Other `.wh..wh.` names are AUFS bookkeeping with no meaning for overlay.
      if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return;
      const target = parent ? `${parent}/${base.slice(WHITEOUT_PREFIX.length)}` : base.slice(WHITEOUT_PREFIX.length);
      await this.clear(target, false);
      // Overlay's whiteout: a character device 0/0 in the upper layer hides the lower entry.
      await runCommand('mknod', ['-m', '0', this.abs(target), 'c', '0', '0'], { timeoutMs: 10_000 });
      this.kinds.set(target, 'other');
      this.stats.inodes++;
      return;
    }

    const path = this.abs(rel);
    const uid = paxNumber(pax, 'uid', header.uid ?? 0);
    const gid = paxNumber(pax, 'gid', header.gid ?? 0);
    const mode = (header.mode ?? 0o644) & 0o7777;
    const mtime = pax?.mtime !== undefined ? new Date(paxNumber(pax, 'mtime', 0) * 1000) : (header.mtime ?? new Date(0));

    switch (header.type) {
      case 'directory': {
        await drain(body);
        await this.clear(rel, true);
        if (this.kinds.get(rel) !== 'dir') {
          mkdirSync(path, { mode: 0o700 });
          this.kinds.set(rel, 'dir');
          this.stats.inodes++;
        }
        lchownSync(path, uid, gid);
        chmodSync(path, mode);
        // Directory times are set last: creating children changes them.
        this.dirTimes.push({ path, mtime });
        break;
      }
      case 'file':
      case 'contiguous-file': {
        await this.clear(rel, false);
        await this.writeFile(rel, path, body, header.size ?? 0, uid, gid, mode, mtime);
        this.kinds.set(rel, 'other');
        break;
      }
      case 'symlink': {
        await drain(body);
        await this.clear(rel, false);
        symlinkSync(header.linkname ?? '', path);
        lchownSync(path, uid, gid);
        lutimesSync(path, mtime, mtime);
        this.kinds.set(rel, 'other');
        this.stats.bytes += Buffer.byteLength(header.linkname ?? '');
        this.stats.inodes++;
        break;
      }
      case 'link': {
        await drain(body);
        const target = cleanEntryPath(header.linkname ?? '');
        if (this.kinds.get(target) !== 'other') {
          throw new UnsafeLayerEntryError(`layer entry "${header.name}" refused: hard link target "${header.linkname}" is not a file of this layer`);
        }
        await this.clear(rel, false);
        await this.settle(target);
        // link(2) does not follow a symlink target, so this stays inside the layer.
        linkSync(this.abs(target), path);
        this.kinds.set(rel, 'other');
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await drain(body);
        await this.clear(rel, false);
        const kind = header.type === 'fifo' ? ['p'] : [header.type === 'block-device' ? 'b' : 'c', String(header.devmajor ?? 0), String(header.devminor ?? 0)];
        await runCommand('mknod', ['-m', mode.toString(8), path, ...kind], { timeoutMs: 10_000 });
        lchownSync(path, uid, gid);
        utimesSync(path, mtime, mtime);
        this.kinds.set(rel, 'other');
        this.stats.inodes++;
        break;
      }
      default:
        // Other typeflags (GNU sparse, volume labels) carry nothing a container can use.
        await drain(body);
        return;
    }
    await this.applyXattrs(rel, path, pax);
  }

  private async writeFile(rel: string, path: string, body: EntryBody, size: number, uid: number, gid: number, mode: number, mtime: Date): Promise<void> {
    this.stats.bytes += size;
    this.stats.inodes++;
    if (size <= BACKGROUND_FILE_BYTES) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      this.launch(rel, writeSmallFile(path, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), uid, gid, mode, mtime));
      return;
    }
    const fd = openSync(path, 'wx', 0o600);
    try {
      for await (const chunk of body) writeSync(fd, chunk);
      if (uid !== 0 || gid !== 0) fchownSync(fd, uid, gid);
      // After chown, which clears set-id bits.
      fchmodSync(fd, mode);
      futimesSync(fd, mtime, mtime);
    } finally {
      closeSync(fd);
    }
  }

  private async applyXattrs(rel: string, path: string, pax: Record<string, string> | undefined): Promise<void> {
    if (!pax) return;
    for (const [key, value] of Object.entries(pax)) {
      if (!key.startsWith('SCHILY.xattr.')) continue;
      await this.settle(rel);
      const name = key.slice('SCHILY.xattr.'.length);
      // Overlay's own attributes would let an image forge whiteouts or redirects.
      if (name.startsWith('trusted.overlay.')) continue;
      // tar-stream decodes PAX values as UTF-8, so binary values (file capabilities) arrive
      // mangled; writing them would grant something the image never asked for.
      if (value.includes('\uFFFD')) {
        this.stats.skippedXattrs.push(`${rel}: ${name}`);
        continue;
      }
      await this.setXattr(path, name, Buffer.from(value, 'utf8'));
    }
  }

  private async setXattr(path: string, name: string, value: Buffer): Promise<void> {
    await runCommand('setfattr', ['-h', '-n', name, '-v', `0s${value.toString('base64')}`, path], { timeoutMs: 10_000 });
  }

  async quiesce(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
  }

  async finish(): Promise<void> {
    await this.settle();
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const { path, mtime } = this.dirTimes[i]!;
      utimesSync(path, mtime, mtime);
    }
  }
}

/**
 * Unpacks an uncompressed layer tar stream into `dir` (empty, existing). Rejects on the first
 * unsafe entry or stream error; the caller discards the directory then.
 */
export async function unpackLayer(input: Readable, dir: string): Promise<UnpackStats> {
  const extract = tar.extract();
  // tar-stream's streams are streamx streams: fed by pipe(), with errors forwarded by hand.
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  const writer = new LayerWriter(dir);
  try {
    for await (const entry of extract) {
      await writer.entry(entry.header, entry as AsyncIterable<Buffer>);
    }
  } catch (err) {
    input.destroy();
    extract.destroy();
    // No write may land after the caller discards the directory.
    await writer.quiesce();
    throw err;
  }
  await writer.finish();
  return writer.stats;
}
