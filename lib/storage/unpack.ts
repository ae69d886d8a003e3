import { createHash } from 'node:crypto';
import {
  chmodSync, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, unlinkSync, utimesSync, writeSync,
} from 'node:fs';
import { CancelledError, FailedPreconditionError, isRuntimeError, messageOf } from '../errors/index.js';
import { failpoint } from '../failpoints/index.js';
import { SpecialFiles, type NodeType } from './special-files.js';
import type { FsCalls } from '../util/fs-calls.js';
import { TarReader, type TarEntry } from './tar-reader.js';
import { xattrVerdict } from './xattr-policy.js';

/** A layer entry that would write outside its layer directory, or cannot be represented. */
export class UnsafeLayerEntryError extends FailedPreconditionError {}

/** The file system refused an entry (no space, a name too long, ...). */
export class LayerWriteError extends FailedPreconditionError {}

export interface UnpackStats {
  /** Bytes of file content (and symlink targets) written. */
  bytes: number;
  /** Entries created. */
  inodes: number;
  /** Extended attributes not applied, as `path: name (why)`; the first few only. */
  skippedXattrs: string[];
  skippedXattrCount: number;
  /** sha256 of the whole uncompressed stream, end-of-archive blocks and all: its diff ID. */
  diffId: string;
}

export interface UnpackOptions {
  /** Stops the unpack between input chunks; it then rejects with CancelledError. */
  signal?: AbortSignal;
  /** How whiteouts, nodes and attributes are made: null for the programs; default, the installed addon. */
  fsCalls?: FsCalls | null;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const OPAQUE_XATTR = 'trusted.overlay.opaque';
const MAX_REPORTED_XATTRS = 20;
/** Linux's limit for a path given to a system call. */
const PATH_MAX = 4096;

type Kind = 'dir' | 'other';

/** A `.` or `..` component, an empty one, or a leading `/`. */
const NEEDS_CLEANING = /(^|\/)\.\.?(\/|$)|\/\/|^\//;

/**
 * Splits an entry name into clean components. Leading `/` and `.` are dropped (the entry is
 * contained in the layer); `..` is refused outright, never resolved.
 */
export function cleanEntryPath(name: string): string {
  // Most names are clean already (no `.`, `..`, empty or leading components): taken as they are.
  if (!NEEDS_CLEANING.test(name)) return name.endsWith('/') ? name.slice(0, -1) : name;
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

interface OpenFile {
  fd: number;
  rel: string;
  entry: TarEntry;
  left: number;
}

/**
 * Writes one layer's entries into an empty directory. Every path is checked against what this
 * unpack itself created (the directory starts empty), so no symlink or file can redirect a
 * later entry: a parent that is not a directory created here is refused.
 *
 * File system calls are synchronous: the unpack runs on a worker thread of its own, where a
 * blocking call costs less than a round trip through the thread pool, and files are written
 * in the order the archive gives them, with nothing in flight to wait for. What Node has no
 * call for (mknod, extended attributes) goes through `SpecialFiles`.
 */
class LayerWriter {
  private readonly kinds = new Map<string, Kind>([['', 'dir']]);
  /** Directories of this layer with the set-group-ID bit: files made in them take their group. */
  private readonly setgidDirs = new Set<string>();
  private readonly umask = process.umask();
  private readonly dirTimes: { path: string; mtime: number }[] = [];
  private file: OpenFile | undefined;
  /** Data of the current entry that has no place on disk (types of no use to a container). */
  private skipping = false;
  readonly stats: Omit<UnpackStats, 'diffId'> = { bytes: 0, inodes: 0, skippedXattrs: [], skippedXattrCount: 0 };

  private readonly root: string;

  constructor(root: string, private readonly special: SpecialFiles) {
    this.root = root.length > 1 && root.endsWith('/') ? root.slice(0, -1) : root;
  }

  /** `rel` is clean (no `.`, `..` or empty components): joined without normalizing again. */
  private abs(rel: string): string {
    return rel ? `${this.root}/${rel}` : this.root;
  }

  /** Creates missing parents as plain directories; refuses a parent that is anything else. */
  private ensureDir(rel: string, entryName: string): void {
    const missing: string[] = [];
    for (let dir = rel; dir !== ''; dir = parentOf(dir)) {
      const kind = this.kinds.get(dir);
      if (kind === 'dir') break;
      if (kind === 'other') throw new UnsafeLayerEntryError(`layer entry "${entryName}" refused: "${dir}" is not a directory in this layer`);
      missing.push(dir);
    }
    for (let i = missing.length - 1; i >= 0; i--) {
      mkdirSync(this.abs(missing[i]!), { mode: 0o755 });
      this.kinds.set(missing[i]!, 'dir');
      this.stats.inodes++;
    }
  }

  /** Makes room for a new entry at `rel`, replacing whatever an earlier entry put there. */
  private async clear(rel: string, keepDir: boolean): Promise<void> {
    const kind = this.kinds.get(rel);
    if (kind === undefined || (kind === 'dir' && keepDir)) return;
    this.kinds.delete(rel);
    if (kind === 'other') {
      unlinkSync(this.abs(rel));
      return;
    }
    // Loaded on first use, as the programs are (see SpecialFiles): rare in a layer.
    const { deleteTree } = await import('./remove-tree.js');
    await deleteTree(this.abs(rel));
    const prefix = `${rel}/`;
    for (const key of [...this.kinds.keys()]) if (key.startsWith(prefix)) this.kinds.delete(key);
    for (const dir of [...this.setgidDirs]) if (dir === rel || dir.startsWith(prefix)) this.setgidDirs.delete(dir);
    // The times of directories that are gone are not set at the end.
    const gone = this.abs(rel);
    let kept = 0;
    for (const d of this.dirTimes) if (d.path !== gone && !d.path.startsWith(`${gone}/`)) this.dirTimes[kept++] = d;
    this.dirTimes.length = kept;
  }

  /** The start of an entry; its data (files only) follows through `data`. */
  entry(entry: TarEntry): Promise<void> | undefined {
    this.skipping = false;
    const rel = cleanEntryPath(entry.name);
    if (rel === '') {
      this.skipping = true;
      return undefined;
    }
    // Refused before anything is made: no file system call could reach it.
    if (this.root.length + 1 + Buffer.byteLength(rel) >= PATH_MAX) {
      throw new LayerWriteError(`layer entry "${entry.name.slice(0, 200)}..." could not be written: its path is over ${PATH_MAX} bytes`);
    }
    const base = baseOf(rel);
    const parent = parentOf(rel);
    this.ensureDir(parent, entry.name);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.skipping = true;
      return this.whiteout(entry, parent, base);
    }
    switch (entry.type) {
      case 'directory':
        if (this.kinds.get(rel) === 'other') return this.clear(rel, true).then(() => this.directory(rel, entry));
        return this.directory(rel, entry);
      case 'file':
        if (this.kinds.has(rel)) return this.clear(rel, false).then(() => this.openFile(rel, entry));
        return this.openFile(rel, entry);
      case 'symlink':
        if (this.kinds.has(rel)) return this.clear(rel, false).then(() => this.symlink(rel, entry));
        return this.symlink(rel, entry);
      case 'link':
        return this.hardLink(rel, entry);
      case 'character-device':
      case 'block-device':
      case 'fifo':
        return this.node(rel, entry, entry.type);
      default:
        // Other typeflags (volume labels, vendor extensions) carry nothing a container can use.
        this.skipping = true;
        return undefined;
    }
  }

  /** File data, in order; the file is finished when its last byte arrives. */
  data(chunk: Buffer): Promise<void> | undefined {
    const file = this.file;
    if (!file) {
      if (this.skipping) return undefined;
      throw new UnsafeLayerEntryError('layer stream has data outside any file');
    }
    let written = 0;
    while (written < chunk.length) written += writeSync(file.fd, chunk, written, chunk.length - written);
    file.left -= chunk.length;
    return file.left === 0 ? this.closeFile() : undefined;
  }

  private async whiteout(entry: TarEntry, parent: string, base: string): Promise<void> {
    if (base === OPAQUE_MARKER) return this.setXattr(parent, OPAQUE_XATTR, Buffer.from('y'));
    // Other `.wh..wh.` names are AUFS bookkeeping with no meaning for overlay.
    if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return undefined;
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') {
      throw new UnsafeLayerEntryError(`layer entry "${entry.name}" refused: a whiteout must name an entry of its directory`);
    }
    const target = parent ? `${parent}/${name}` : name;
    await this.clear(target, false);
    await this.special.whiteout(this.abs(target));
    this.kinds.set(target, 'other');
    this.stats.inodes++;
  }

  private directory(rel: string, entry: TarEntry): Promise<void> | undefined {
    const path = this.abs(rel);
    const created = this.kinds.get(rel) !== 'dir';
    if (created) {
      mkdirSync(path, { mode: entry.mode & 0o777 });
      this.kinds.set(rel, 'dir');
      this.stats.inodes++;
    }
    // As for files: owner and mode only when creation did not already give them.
    const owned = entry.uid !== 0 || entry.gid !== 0 || this.setgidDirs.has(parentOf(rel));
    if (owned || !created) lchownSync(path, entry.uid, entry.gid);
    if (!created || owned || (entry.mode & 0o7000) !== 0 || (entry.mode & this.umask) !== 0) chmodSync(path, entry.mode & 0o7777);
    if (entry.mode & 0o2000) this.setgidDirs.add(rel);
    else this.setgidDirs.delete(rel);
    // Directory times are set last: creating children changes them.
    this.dirTimes.push({ path, mtime: entry.mtime });
    return entry.xattrs.size > 0 ? this.applyXattrs(rel, entry) : undefined;
  }

  private openFile(rel: string, entry: TarEntry): Promise<void> | undefined {
    // O_EXCL: never opens through a symlink, never reuses an inode. Created with the
    // permission bits the entry asks for (the umask may take some: then fchmod puts them back).
    const fd = openSync(this.abs(rel), 'wx', entry.mode & 0o777);
    this.kinds.set(rel, 'other');
    this.file = { fd, rel, entry, left: entry.size };
    this.stats.bytes += entry.size;
    this.stats.inodes++;
    return entry.size === 0 ? this.closeFile() : undefined;
  }

  private closeFile(): Promise<void> | undefined {
    const { fd, rel, entry } = this.file!;
    this.file = undefined;
    try {
      // A new file is root's (0:0) unless its directory is set-group-ID.
      const owned = entry.uid !== 0 || entry.gid !== 0 || this.setgidDirs.has(parentOf(rel));
      if (owned) fchownSync(fd, entry.uid, entry.gid);
      // After chown, which clears set-ID bits; skipped when open's mode already said it all.
      if (owned || (entry.mode & 0o7000) !== 0 || (entry.mode & this.umask) !== 0) fchmodSync(fd, entry.mode & 0o7777);
      futimesSync(fd, entry.mtime, entry.mtime);
    } finally {
      closeSync(fd);
    }
    return entry.xattrs.size > 0 ? this.applyXattrs(rel, entry) : undefined;
  }

  private symlink(rel: string, entry: TarEntry): Promise<void> | undefined {
    const path = this.abs(rel);
    symlinkSync(entry.linkname, path);
    this.kinds.set(rel, 'other');
    lchownSync(path, entry.uid, entry.gid);
    lutimesSync(path, entry.mtime, entry.mtime);
    this.stats.bytes += Buffer.byteLength(entry.linkname);
    this.stats.inodes++;
    return entry.xattrs.size > 0 ? this.applyXattrs(rel, entry) : undefined;
  }

  private async hardLink(rel: string, entry: TarEntry): Promise<void> {
    const target = cleanEntryPath(entry.linkname);
    if (this.kinds.get(target) !== 'other') {
      throw new UnsafeLayerEntryError(`layer entry "${entry.name}" refused: hard link target "${entry.linkname}" is not a file of this layer`);
    }
    if (target === rel) return;
    await this.clear(rel, false);
    // link(2) does not follow a symlink target, so this stays inside the layer.
    linkSync(this.abs(target), this.abs(rel));
    this.kinds.set(rel, 'other');
    if (entry.xattrs.size > 0) await this.applyXattrs(rel, entry);
  }

  private async node(rel: string, entry: TarEntry, type: NodeType): Promise<void> {
    await this.clear(rel, false);
    const path = this.abs(rel);
    await this.special.node(path, type, entry.mode, entry.devmajor, entry.devminor);
    this.kinds.set(rel, 'other');
    lchownSync(path, entry.uid, entry.gid);
    lutimesSync(path, entry.mtime, entry.mtime);
    this.stats.inodes++;
    if (entry.xattrs.size > 0) await this.applyXattrs(rel, entry);
  }

  private skipXattr(rel: string, name: string, why: string): void {
    this.stats.skippedXattrCount++;
    if (this.stats.skippedXattrs.length < MAX_REPORTED_XATTRS) this.stats.skippedXattrs.push(`${rel}: ${name} (${why})`);
  }

  private async applyXattrs(rel: string, entry: TarEntry): Promise<void> {
    for (const [name, value] of entry.xattrs) {
      const verdict = xattrVerdict(name);
      if (!verdict.apply) {
        this.skipXattr(rel, name, verdict.reason);
        continue;
      }
      try {
        await this.setXattr(rel, name, value);
      } catch (err) {
        // As docker and containerd do: a file system without the namespace (or a symlink,
        // which takes no user.* attribute) loses the attribute, not the layer.
        this.skipXattr(rel, name, `not supported here: ${messageOf(err).split('\n')[0]}`);
      }
    }
  }

  private setXattr(rel: string, name: string, value: Buffer): Promise<void> {
    return this.special.setXattr(this.abs(rel), name, value);
  }

  /** The archive ended: no file may be left half written. */
  finish(): void {
    if (this.file) throw new UnsafeLayerEntryError(`layer stream ended inside "${this.file.entry.name}"`);
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const { path, mtime } = this.dirTimes[i]!;
      utimesSync(path, mtime, mtime);
    }
  }

  /** Closes what an interrupted unpack left open. */
  abandon(): void {
    if (this.file) closeSync(this.file.fd);
    this.file = undefined;
  }

  get currentEntry(): string | undefined {
    return this.file?.entry.name;
  }
}

/** A file system error, named after the entry that met it; domain errors pass through. */
function writeError(err: unknown, entryName: string | undefined): unknown {
  if (isRuntimeError(err)) return err;
  return new LayerWriteError(`layer entry${entryName === undefined ? '' : ` "${entryName}"`} could not be written: ${messageOf(err)}`, { cause: err });
}

/** Feeds the reader's events to the writer until it needs more input. */
async function pump(reader: TarReader, writer: LayerWriter): Promise<void> {
  let name: string | undefined;
  try {
    for (let event = reader.read(); event !== undefined && event.kind !== 'end'; event = reader.read()) {
      if (event.kind === 'entry') name = event.entry.name;
      const pending = event.kind === 'data' ? writer.data(event.chunk) : writer.entry(event.entry);
      if (pending) await pending;
    }
  } catch (err) {
    throw writeError(err, name ?? writer.currentEntry);
  }
}

/**
 * Unpacks an uncompressed layer tar stream into `dir` (empty, existing) and returns what it
 * wrote with the stream's digest. Rejects on the first unsafe entry, malformed archive or
 * stream error, always with a domain error; the caller discards the directory then. Nothing
 * is written after the returned promise settles.
 */
export async function unpackLayer(input: AsyncIterable<Buffer> | Iterable<Buffer>, dir: string, options: UnpackOptions = {}): Promise<UnpackStats> {
  const reader = new TarReader();
  const writer = new LayerWriter(dir, new SpecialFiles(options.fsCalls));
  const hash = createHash('sha256');
  try {
    try {
      let midway = false;
      for await (const chunk of input) {
        if (options.signal?.aborted) throw new CancelledError('layer unpack cancelled');
        hash.update(chunk);
        reader.write(chunk);
        await pump(reader, writer);
        if (!midway && writer.stats.inodes > 0) {
          midway = true;
          failpoint('image.pull.mid-layer-unpack');
        }
      }
    } catch (err) {
      if (isRuntimeError(err)) throw err;
      throw new FailedPreconditionError(`layer stream failed: ${messageOf(err)}`, { cause: err });
    }
    reader.close();
    await pump(reader, writer);
    try {
      writer.finish();
    } catch (err) {
      throw writeError(err, undefined);
    }
  } catch (err) {
    writer.abandon();
    throw err;
  }
  return { ...writer.stats, diffId: `sha256:${hash.digest('hex')}` };
}
