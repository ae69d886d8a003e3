import { TarFormatError, cString, checksums, decimal, isZeroBlock, numeric, parsePaxRecords } from './tar-fields.js';

export { TarFormatError, parsePaxRecords } from './tar-fields.js';

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo' | 'other';

/** One archive member, with its PAX and GNU long-name records already applied. */
export interface TarEntry {
  name: string;
  linkname: string;
  type: TarEntryType;
  /** The raw typeflag character, for messages about entries of type `other`. */
  typeflag: string;
  /** Bytes of data that follow; 0 for types whose header is all there is. */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (PAX may give fractions). */
  mtime: number;
  devmajor: number;
  devminor: number;
  /** `SCHILY.xattr.*` records: name without the prefix, value as the bytes the archive holds. */
  xattrs: ReadonlyMap<string, Buffer>;
}

export type TarEvent =
  | { kind: 'entry'; entry: TarEntry }
  /** Part of the current entry's data: a view into the input, valid until the next write. */
  | { kind: 'data'; chunk: Buffer }
  | { kind: 'end' };

const BLOCK = 512;
/** PAX and GNU long-name records larger than this are refused, as Go's reader does. */
const MAX_META_BYTES = 1 << 20;
const END: TarEvent = { kind: 'end' };
const XATTR_PREFIX = 'SCHILY.xattr.';
/** Shared by the (many) entries without extended attributes. */
const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();

const TYPES: Record<string, TarEntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'character-device', '4': 'block-device', '5': 'directory', '6': 'fifo',
};
/** Types whose size field says nothing: no data follows their header (as in Go's reader). */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

interface MetaRecords {
  pax?: Map<string, Buffer>;
  longName?: string;
  longLink?: string;
}

type State = 'header' | 'data' | 'meta' | 'padding' | 'ended';

/**
 * A streaming tar reader: ustar, PAX (`x` per entry; `g` global records are read and ignored,
 * as containerd and docker ignore them), GNU long names (`L`, `K`) and base-256 numbers.
 * Feed it with `write`, take events with `read` until it returns undefined, `close` at the end
 * of input. Data events are views into the input, never copies.
 *
 * The end is accepted where Go's archive/tar accepts it: two zero blocks; the input ending at
 * a header boundary, inside the padding after an entry, or after one zero block. Ending inside
 * a header, inside an entry's data or inside a PAX/long-name record is an error. Bytes after
 * the end-of-archive blocks are not read.
 */
export class TarReader {
  private readonly queue: Buffer[] = [];
  private offset = 0;
  private buffered = 0;
  private state: State = 'header';
  /** Data or record bytes left in the current member; then `padding` bytes to the block edge. */
  private remaining = 0;
  private padding = 0;
  private sawZeroBlock = false;
  private closed = false;
  private meta: MetaRecords = {};
  private metaType = '';
  private metaParts: Buffer[] = [];
  private currentName = '';
  private readonly headerBlock = Buffer.alloc(BLOCK);

  /** Queues input; input after the end of the archive is ignored. */
  write(chunk: Buffer): void {
    if (this.state === 'ended' || chunk.length === 0) return;
    this.queue.push(chunk);
    this.buffered += chunk.length;
  }

  /** No more input will come: what is buffered decides whether the archive ended cleanly. */
  close(): void {
    this.closed = true;
  }

  get ended(): boolean {
    return this.state === 'ended';
  }

  /** The next event, or undefined when more input is needed. Throws TarFormatError. */
  read(): TarEvent | undefined {
    for (;;) {
      switch (this.state) {
        case 'ended':
          return END;
        case 'header': {
          if (this.buffered < BLOCK) {
            if (!this.closed) return undefined;
            if (this.buffered === 0) return this.finish();
            throw new TarFormatError(this.sawZeroBlock ? 'tar stream ends inside its end-of-archive blocks' : 'tar stream ends inside a header');
          }
          const entry = this.header(this.take(BLOCK));
          if (entry) return { kind: 'entry', entry };
          break;
        }
        case 'data': {
          if (this.buffered === 0) {
            if (!this.closed) return undefined;
            throw new TarFormatError(`tar stream ends inside the data of "${this.currentName}" (${this.remaining} bytes missing)`);
          }
          const chunk = this.takeUpTo(this.remaining);
          this.remaining -= chunk.length;
          if (this.remaining === 0) this.state = 'padding';
          return { kind: 'data', chunk };
        }
        case 'meta': {
          if (this.buffered === 0) {
            if (!this.closed) return undefined;
            throw new TarFormatError('tar stream ends inside a PAX or long-name record');
          }
          const part = this.takeUpTo(this.remaining);
          this.metaParts.push(Buffer.from(part));
          this.remaining -= part.length;
          if (this.remaining === 0) {
            this.applyMeta(this.metaParts.length === 1 ? this.metaParts[0]! : Buffer.concat(this.metaParts));
            this.metaParts = [];
            this.state = 'padding';
          }
          break;
        }
        case 'padding': {
          if (this.padding === 0) {
            this.state = 'header';
            break;
          }
          if (this.buffered === 0) {
            if (!this.closed) return undefined;
            return this.finish();
          }
          this.padding -= this.takeUpTo(this.padding).length;
          break;
        }
      }
    }
  }

  private finish(): TarEvent {
    this.state = 'ended';
    this.queue.length = 0;
    this.buffered = 0;
    return END;
  }

  /** Up to `max` bytes from the front of the queue, without copying. */
  private takeUpTo(max: number): Buffer {
    const head = this.queue[0]!;
    const available = head.length - this.offset;
    const n = Math.min(max, available);
    const out = head.subarray(this.offset, this.offset + n);
    this.buffered -= n;
    if (n === available) {
      this.queue.shift();
      this.offset = 0;
    } else {
      this.offset += n;
    }
    return out;
  }

  /** Exactly `BLOCK` bytes; copied only when they span two input chunks. */
  private take(n: number): Buffer {
    const head = this.queue[0]!;
    if (head.length - this.offset >= n) return this.takeUpTo(n);
    let filled = 0;
    while (filled < n) {
      const part = this.takeUpTo(n - filled);
      part.copy(this.headerBlock, filled);
      filled += part.length;
    }
    return this.headerBlock;
  }

  /** Parses one header block; returns the entry for a member, undefined for meta records and zero blocks. */
  private header(block: Buffer): TarEntry | undefined {
    if (isZeroBlock(block)) {
      if (this.sawZeroBlock) {
        this.finish();
        return undefined;
      }
      this.sawZeroBlock = true;
      return undefined;
    }
    if (this.sawZeroBlock) throw new TarFormatError('tar stream has a zero block followed by a header');
    const stored = numeric(block, 148, 8, 'checksum');
    const sums = checksums(block);
    if (stored !== sums.unsigned && stored !== sums.signed) throw new TarFormatError('tar header checksum mismatch (not a tar stream, or corrupt)');

    const typeflag = String.fromCharCode(block[156]!);
    const magic = block.toString('latin1', 257, 263);
    const ustar = magic === 'ustar\0';
    const gnu = magic === 'ustar ' && block[263] === 0x20 && block[264] === 0;
    let size = numeric(block, 124, 12, 'size');
    if (size < 0) throw new TarFormatError('tar header: negative size');
    if (HEADER_ONLY.has(typeflag)) size = 0;

    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > MAX_META_BYTES) throw new TarFormatError(`tar ${typeflag} record of ${size} bytes is over the ${MAX_META_BYTES}-byte limit`);
      this.metaType = typeflag;
      this.beginData(size, 'meta');
      if (size === 0) this.applyMeta(Buffer.alloc(0));
      return undefined;
    }
    if (typeflag === 'S') throw new TarFormatError('GNU sparse files are not supported in layers');

    let name = cString(block, 0, 100);
    if (ustar) {
      // star archives keep times after a shorter prefix.
      const star = block.toString('latin1', 508, 512) === 'tar\0';
      const prefix = cString(block, 345, star ? 131 : 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const entry: TarEntry = {
      name,
      linkname: cString(block, 157, 100),
      type: TYPES[typeflag] ?? 'other',
      typeflag,
      size,
      mode: numeric(block, 100, 8, 'mode'),
      uid: numeric(block, 108, 8, 'uid'),
      gid: numeric(block, 116, 8, 'gid'),
      mtime: numeric(block, 136, 12, 'mtime'),
      devmajor: ustar || gnu ? numeric(block, 329, 8, 'devmajor') : 0,
      devminor: ustar || gnu ? numeric(block, 337, 8, 'devminor') : 0,
      xattrs: NO_XATTRS,
    };
    this.applyRecords(entry);
    if (entry.size < 0 || entry.uid < 0 || entry.gid < 0) throw new TarFormatError(`tar header of "${entry.name}": negative size or owner`);
    if (entry.type === 'file' && typeflag === '\0' && entry.name.endsWith('/')) entry.type = 'directory';
    if (HEADER_ONLY.has(typeflag)) entry.size = 0;
    this.currentName = entry.name;
    this.beginData(entry.size, 'data');
    return entry;
  }

  private beginData(size: number, state: 'data' | 'meta'): void {
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.state = size > 0 ? state : 'padding';
  }

  private applyMeta(data: Buffer): void {
    switch (this.metaType) {
      case 'x':
        this.meta.pax = parsePaxRecords(data);
        break;
      case 'g':
        // Validated, then ignored: global records change nothing in containerd's or docker's unpack.
        parsePaxRecords(data);
        break;
      case 'L':
        this.meta.longName = cString(data, 0, data.length);
        break;
      case 'K':
        this.meta.longLink = cString(data, 0, data.length);
        break;
    }
  }

  /** Applies the PAX and long-name records that preceded this header, then forgets them. */
  private applyRecords(entry: TarEntry): void {
    const { pax, longName, longLink } = this.meta;
    this.meta = {};
    if (longName) entry.name = longName;
    if (longLink) entry.linkname = longLink;
    if (!pax) return;
    const xattrs = new Map<string, Buffer>();
    for (const [key, value] of pax) {
      // An empty value keeps the header's own, as Go's reader does.
      if (value.length === 0) continue;
      if (key.startsWith(XATTR_PREFIX)) {
        xattrs.set(key.slice(XATTR_PREFIX.length), value);
        continue;
      }
      if (key.startsWith('GNU.sparse.')) throw new TarFormatError('GNU sparse files are not supported in layers');
      switch (key) {
        case 'path': entry.name = value.toString('utf8'); break;
        case 'linkpath': entry.linkname = value.toString('utf8'); break;
        case 'uid': entry.uid = decimal(value, key, false); break;
        case 'gid': entry.gid = decimal(value, key, false); break;
        case 'size': entry.size = decimal(value, key, false); break;
        case 'mtime': entry.mtime = decimal(value, key, true); break;
        default: break;
      }
    }
    if (xattrs.size > 0) entry.xattrs = xattrs;
  }
}
