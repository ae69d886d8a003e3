import { FailedPreconditionError } from '../errors/index.js';

/** A layer stream that is not a well-formed tar archive (bad header, cut short, bad PAX record). */
export class TarFormatError extends FailedPreconditionError {}

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

function cString(block: Buffer, start: number, length: number): string {
  const nul = block.indexOf(0, start);
  const end = nul < 0 || nul > start + length ? start + length : nul;
  return block.toString('utf8', start, end);
}

/** Octal (padded with spaces or NULs) or base-256 (high bit of the first byte set). */
function numeric(block: Buffer, start: number, length: number, field: string): number {
  const first = block[start]!;
  if (first & 0x80) {
    // Two's complement, big-endian, after the marker bit.
    const invert = first & 0x40 ? 0xff : 0;
    let value = (first ^ invert) & 0x7f;
    for (let i = 1; i < length; i++) {
      value = value * 256 + (block[start + i]! ^ invert);
      if (value > Number.MAX_SAFE_INTEGER) throw new TarFormatError(`tar header: ${field} is out of range`);
    }
    return invert ? -value - 1 : value;
  }
  let i = start;
  const end = start + length;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`tar header: ${field} is not an octal number`);
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    if (block[i] !== 0x20 && block[i] !== 0) throw new TarFormatError(`tar header: ${field} is not an octal number`);
  }
  if (value > Number.MAX_SAFE_INTEGER) throw new TarFormatError(`tar header: ${field} is too large`);
  return digits === 0 ? 0 : value;
}

/** Sum of the block with the checksum field read as spaces; 0 only for an all-zero block. */
function checksums(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return { unsigned, signed };
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function decimal(value: Buffer, key: string, allowFraction: boolean): number {
  const text = value.toString('latin1');
  const pattern = allowFraction ? /^-?\d+(\.\d+)?$/ : /^\d+$/;
  if (!pattern.test(text)) throw new TarFormatError(`PAX record ${key}: "${text.slice(0, 40)}" is not a number`);
  const n = Number(text);
  if (!Number.isSafeInteger(Math.trunc(n))) throw new TarFormatError(`PAX record ${key}: ${text.slice(0, 40)} is out of range`);
  return n;
}

/**
 * Parses PAX records (`LEN KEY=VALUE\n`, LEN counting the whole record). Values stay bytes:
 * extended attribute values are binary (file capabilities); the keys are text.
 */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0 || space - at > 20) throw new TarFormatError('PAX record without a length');
    const lengthText = data.toString('latin1', at, space);
    if (!/^\d+$/.test(lengthText)) throw new TarFormatError(`PAX record length "${lengthText}" is not a number`);
    const length = Number(lengthText);
    const end = at + length;
    if (length < 5 || end > data.length || end <= space + 1) throw new TarFormatError('PAX record length runs past its header');
    if (data[end - 1] !== 0x0a) throw new TarFormatError('PAX record does not end with a newline');
    const equals = data.indexOf(0x3d, space + 1);
    if (equals < 0 || equals >= end - 1) throw new TarFormatError('PAX record without "="');
    if (equals === space + 1) throw new TarFormatError('PAX record with an empty key');
    const key = data.toString('utf8', space + 1, equals);
    const value = data.subarray(equals + 1, end - 1);
    if (key.includes('\0')) throw new TarFormatError('PAX record key contains NUL');
    if ((key === 'path' || key === 'linkpath' || key === 'uname' || key === 'gname') && value.includes(0)) {
      throw new TarFormatError(`PAX record ${key} contains NUL`);
    }
    // Copied: the record outlives the buffer it was read from.
    records.set(key, Buffer.from(value));
    at = end;
  }
  return records;
}

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
