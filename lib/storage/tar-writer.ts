import { constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { FailedPreconditionError } from '../errors/index.js';

/** What a member of an archive the writer makes can be. */
export type TarMemberType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

export interface TarHeaderFields {
  /** Relative path; a directory's gets its trailing slash here. */
  name: string;
  type: TarMemberType;
  /** Bytes of data that follow (files only). */
  size?: number;
  mode: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  /** A symlink's target, or the member a hard link names. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as `SCHILY.xattr.NAME` PAX records (as GNU tar and Go do). */
  xattrs?: ReadonlyMap<string, Buffer>;
}

const BLOCK = 512;
const TYPEFLAG: Record<TarMemberType, string> = {
  file: '0', link: '1', symlink: '2', 'character-device': '3', 'block-device': '4', directory: '5', fifo: '6',
};
/** The largest values the octal fields hold; larger ones go into PAX records. */
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** Zero bytes that take `size` bytes of data to the next block edge. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

function fitsField(text: string, bytes: number): boolean {
  return Buffer.byteLength(text) <= bytes && /^[\x20-\x7e]*$/.test(text);
}

function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(value.toString(8).padStart(length - 1, '0'), offset, length - 1, 'latin1');
  block[offset + length - 1] = 0;
}

/** One `LEN KEY=VALUE\n` record, LEN counting its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

function ustarBlock(fields: { name: string; typeflag: string; size: number; mode: number; uid: number; gid: number; mtime: number; linkname: string; devmajor: number; devminor: number }): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name, 0, 100, 'utf8');
  octal(block, 100, 8, fields.mode);
  octal(block, 108, 8, fields.uid);
  octal(block, 116, 8, fields.gid);
  octal(block, 124, 12, fields.size);
  octal(block, 136, 12, fields.mtime);
  block.write(fields.typeflag, 156, 1, 'latin1');
  block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 8, 'latin1');
  octal(block, 329, 8, fields.devmajor);
  octal(block, 337, 8, fields.devminor);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
  return block;
}

/**
 * The header blocks of one member: a PAX extended header first when a field does not fit
 * ustar (a long or non-ASCII name or target, a large ID or size, extended attributes), then
 * the ustar header itself. Pure: the archive's bytes depend on nothing but the fields.
 */
export function tarHeader(h: TarHeaderFields): Buffer {
  const size = h.type === 'file' ? h.size ?? 0 : 0;
  const uid = h.uid ?? 0;
  const gid = h.gid ?? 0;
  const mtime = Math.max(0, Math.floor(h.mtime ?? 0));
  const linkname = h.linkname ?? '';
  const pax: Buffer[] = [];
  if (!fitsField(h.name, 100)) pax.push(paxRecord('path', Buffer.from(h.name, 'utf8')));
  if (!fitsField(linkname, 100)) pax.push(paxRecord('linkpath', Buffer.from(linkname, 'utf8')));
  if (uid > MAX_OCTAL_7) pax.push(paxRecord('uid', Buffer.from(String(uid))));
  if (gid > MAX_OCTAL_7) pax.push(paxRecord('gid', Buffer.from(String(gid))));
  if (size > MAX_OCTAL_11) pax.push(paxRecord('size', Buffer.from(String(size))));
  if (mtime > MAX_OCTAL_11) pax.push(paxRecord('mtime', Buffer.from(String(mtime))));
  for (const [name, value] of h.xattrs ?? []) pax.push(paxRecord(`SCHILY.xattr.${name}`, value));
  const ustar = ustarBlock({
    name: fitsField(h.name, 100) ? h.name : asciiStub(h.name),
    typeflag: TYPEFLAG[h.type],
    size: Math.min(size, MAX_OCTAL_11),
    mode: h.mode & 0o7777,
    uid: Math.min(uid, MAX_OCTAL_7),
    gid: Math.min(gid, MAX_OCTAL_7),
    mtime: Math.min(mtime, MAX_OCTAL_11),
    linkname: fitsField(linkname, 100) ? linkname : asciiStub(linkname),
    devmajor: Math.min(h.devmajor ?? 0, MAX_OCTAL_7),
    devminor: Math.min(h.devminor ?? 0, MAX_OCTAL_7),
  });
  if (pax.length === 0) return ustar;
  const data = Buffer.concat(pax);
  const paxHeader = ustarBlock({ name: 'PaxHeader', typeflag: 'x', size: data.length, mode: 0o644, uid: 0, gid: 0, mtime: Math.min(mtime, MAX_OCTAL_11), linkname: '', devmajor: 0, devminor: 0 });
  return Buffer.concat([paxHeader, data, tarPadding(data.length), ustar]);
}

/** What the ustar field holds when a PAX record carries the real value: readers without PAX see something printable. */
function asciiStub(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '_').slice(-99);
}

const COPY_CHUNK = 1 << 20;

/**
 * Writes a tar archive to a file, member by member: headers from `tarHeader`, file data
 * copied from open files in large chunks (archives of checkpoints hold whole memory images).
 */
export class TarFileWriter {
  private readonly buffer = Buffer.allocUnsafe(COPY_CHUNK);
  private position = 0;

  private constructor(private readonly out: FileHandle) {}

  /** Creates (or truncates) `path` with `mode`. */
  static async create(path: string, mode: number): Promise<TarFileWriter> {
    return new TarFileWriter(await open(path, 'w', mode));
  }

  private async write(data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.out.write(data, done, data.length - done, this.position);
      done += bytesWritten;
      this.position += bytesWritten;
    }
  }

  /** A member without data, or with data in memory. */
  async add(h: TarHeaderFields, data?: Buffer): Promise<void> {
    const size = h.type === 'file' ? data?.length ?? h.size ?? 0 : 0;
    if (h.type === 'file' && data === undefined && size > 0) throw new FailedPreconditionError(`tar member ${h.name}: no data given for ${size} bytes`);
    await this.write(tarHeader({ ...h, size }));
    if (data && size > 0) {
      await this.write(data);
      await this.write(tarPadding(size));
    }
  }

  /**
   * A regular file copied from `source` (opened without following a final symlink): exactly
   * `h.size` bytes, as the header says; a file that shrank meanwhile fails the archive.
   */
  async addFile(h: TarHeaderFields & { size: number }, source: string): Promise<void> {
    const input = await open(source, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      await this.write(tarHeader({ ...h, type: 'file' }));
      let left = h.size;
      while (left > 0) {
        const { bytesRead } = await input.read(this.buffer, 0, Math.min(COPY_CHUNK, left), null);
        if (bytesRead === 0) throw new FailedPreconditionError(`${source} became shorter while it was archived (${left} bytes missing)`);
        await this.write(this.buffer.subarray(0, bytesRead));
        left -= bytesRead;
      }
      await this.write(tarPadding(h.size));
    } finally {
      await input.close();
    }
  }

  /** Ends the archive and closes the file (flushed to disk: it may be all that is left of a container). */
  async finish(): Promise<void> {
    try {
      await this.write(TAR_END);
      await this.out.sync();
    } finally {
      await this.out.close();
    }
  }

  /** Closes the file without ending the archive (the caller removes it). */
  async abandon(): Promise<void> {
    await this.out.close().catch(() => undefined);
  }
}
