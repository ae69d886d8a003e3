/**
 * Writes tar archives for test layers: ustar headers, PAX records (values may be binary) for
 * what ustar cannot hold, GNU long names on request, and the endings real tools produce (two
 * zero blocks, or none at all as `umoci insert` writes).
 */

export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

export interface TarEntrySpec {
  path: string;
  type?: EntryType;
  content?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  /** Extra PAX records, e.g. `SCHILY.xattr.user.note`; values are bytes or UTF-8 text. */
  pax?: Record<string, string | Buffer>;
}

export interface TarOptions {
  /** How the archive ends: 'blocks' (two zero blocks, the default), 'padded' (last entry padded, no zero blocks), 'bare' (not even padding). */
  ending?: 'blocks' | 'padded' | 'bare';
  /** Long names as GNU `L`/`K` records instead of PAX `path`/`linkpath`. */
  gnuLongNames?: boolean;
}

const BLOCK = 512;
const TYPEFLAG: Record<EntryType, string> = {
  file: '0', link: '1', symlink: '2', 'character-device': '3', 'block-device': '4', directory: '5', fifo: '6',
};

export interface RawHeader {
  name: string;
  typeflag: string;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** 'ustar' (POSIX), 'gnu' (`ustar  \0`) or 'v7' (no magic). */
  magic?: 'ustar' | 'gnu' | 'v7';
}

function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(value.toString(8).padStart(length - 1, '0'), offset, length - 1, 'latin1');
  block[offset + length - 1] = 0;
}

/** One header block with its checksum. */
export function headerBlock(h: RawHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(h.name, 0, 100, 'utf8');
  octal(block, 100, 8, h.mode ?? 0o644);
  octal(block, 108, 8, h.uid ?? 0);
  octal(block, 116, 8, h.gid ?? 0);
  octal(block, 124, 12, h.size ?? 0);
  octal(block, 136, 12, h.mtime ?? 1_700_000_000);
  block.write(h.typeflag, 156, 1, 'latin1');
  block.write(h.linkname ?? '', 157, 100, 'utf8');
  const magic = h.magic ?? 'ustar';
  if (magic === 'ustar') block.write('ustar\u000000', 257, 8, 'latin1');
  if (magic === 'gnu') block.write('ustar  \u0000', 257, 8, 'latin1');
  if (magic !== 'v7') {
    octal(block, 329, 8, h.devmajor ?? 0);
    octal(block, 337, 8, h.devminor ?? 0);
  }
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
  return block;
}

/** PAX records in their `LEN KEY=VALUE\n` form, LEN counting itself. */
export function paxData(records: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, raw] of Object.entries(records)) {
    const value = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8');
    const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    parts.push(Buffer.from(String(length)), body);
  }
  return Buffer.concat(parts);
}

export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** A member: header, data and padding (`pad` false leaves the padding off). */
export function member(h: RawHeader, data: Buffer = Buffer.alloc(0), pad = true): Buffer {
  return Buffer.concat([headerBlock({ ...h, size: h.size ?? data.length }), data, pad ? padding(data.length) : Buffer.alloc(0)]);
}

function fitsUstar(text: string): boolean {
  return Buffer.byteLength(text) <= 100 && /^[\x20-\x7e]*$/.test(text);
}

export function tarBytes(entries: TarEntrySpec[], options: TarOptions = {}): Buffer {
  const out: Buffer[] = [];
  entries.forEach((e, index) => {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
    const name = type === 'directory' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
    const linkname = e.linkname ?? '';
    const pax: Record<string, string | Buffer> = { ...e.pax };
    if (!fitsUstar(name)) {
      if (options.gnuLongNames) out.push(member({ name: '././@LongLink', typeflag: 'L', magic: 'gnu' }, Buffer.from(`${name}\0`)));
      else pax.path = name;
    }
    if (!fitsUstar(linkname)) {
      if (options.gnuLongNames) out.push(member({ name: '././@LongLink', typeflag: 'K', magic: 'gnu' }, Buffer.from(`${linkname}\0`)));
      else pax.linkpath = linkname;
    }
    if (Object.keys(pax).length > 0) out.push(member({ name: 'PaxHeader', typeflag: 'x' }, paxData(pax)));
    const last = index === entries.length - 1;
    out.push(member({
      name: fitsUstar(name) ? name : name.slice(0, 99).replace(/[^\x20-\x7e]/g, '_'),
      typeflag: TYPEFLAG[type],
      size: type === 'file' ? content.length : 0,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid,
      gid: e.gid,
      mtime: Math.floor((e.mtime ?? new Date(1_700_000_000_000)).getTime() / 1000),
      linkname: fitsUstar(linkname) ? linkname : '',
      devmajor: e.devmajor,
      devminor: e.devminor,
    }, type === 'file' ? content : Buffer.alloc(0), !(last && options.ending === 'bare')));
  });
  if ((options.ending ?? 'blocks') === 'blocks') out.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(out);
}
