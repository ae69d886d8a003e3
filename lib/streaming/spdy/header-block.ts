import { createInflate, constants as zc, type Inflate } from 'node:zlib';
import { SPDY_DICTIONARY } from './dictionary.js';
import { SpdyLimitError, SpdyProtocolError } from './frames.js';

/** Header names are lowercase on the wire; several values of one name are joined by NUL. */
export type SpdyHeaders = Map<string, string[]>;

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(headers.size);
  parts.push(count);
  for (const [name, values] of headers) {
    for (const text of [name.toLowerCase(), values.join('\0')]) {
      const bytes = Buffer.from(text, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

/**
 * Reads an inflated header block. At most `maxValues` values (NUL-joined ones counted one by
 * one) are accepted: a block is bounded in bytes by its decompressor, but a byte string of NULs
 * would otherwise become an array of as many empty strings.
 */
export function decodeHeaderBlock(raw: Buffer, maxValues: number = Number.MAX_SAFE_INTEGER): SpdyHeaders {
  const headers: SpdyHeaders = new Map();
  if (raw.length < 4) throw new SpdyProtocolError('header block is too short');
  const count = raw.readUInt32BE(0);
  if (count > maxValues) throw new SpdyLimitError(`header block of ${count} headers exceeds the limit of ${maxValues}`);
  let values = 0;
  let off = 4;
  const take = (): string => {
    if (raw.length - off < 4) throw new SpdyProtocolError('header block is truncated');
    const len = raw.readUInt32BE(off);
    off += 4;
    if (raw.length - off < len) throw new SpdyProtocolError('header block is truncated');
    const text = raw.toString('utf8', off, off + len);
    off += len;
    return text;
  };
  for (let i = 0; i < count; i++) {
    const name = take().toLowerCase();
    const value = take();
    for (let at = value.indexOf('\0'); at >= 0; at = value.indexOf('\0', at + 1)) values++;
    values++;
    if (values > maxValues) throw new SpdyLimitError(`header block with more than ${maxValues} values exceeds the limit`);
    const list = headers.get(name);
    if (list) list.push(...value.split('\0'));
    else headers.set(name, value.split('\0'));
  }
  return headers;
}

function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const MAX_STORED_BLOCK = 0xffff;

/** An empty stored block: how zlib ends a sync flush, and what tells an inflater the block's bytes are all there. */
const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

/**
 * The sending half of a connection's header compression: one zlib stream, primed with the
 * SPDY dictionary, that every header block continues. Blocks are emitted as stored
 * (uncompressed) deflate blocks followed by the empty stored block a sync flush ends with.
 * That last block matters: an inflater that streams (Go's compress/flate, which kubectl,
 * crictl and kubelet's proxy use) hands out a stored block's bytes only once it has seen the
 * next block header, and without one it reads past the frame. Header blocks are a few dozen
 * bytes, so compressing them would save nothing worth an async step.
 */
export class HeaderCompressor {
  private started = false;

  compress(raw: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      // CMF 0x78 (deflate, 32K window), FLG with FDICT set and FCHECK making CMF*256+FLG a multiple of 31.
      const flg0 = 0x20 | (2 << 6);
      const flg = flg0 + (31 - ((0x78 * 256 + flg0) % 31)) % 31;
      const head = Buffer.alloc(6);
      head.writeUInt8(0x78, 0);
      head.writeUInt8(flg, 1);
      head.writeUInt32BE(adler32(SPDY_DICTIONARY), 2);
      parts.push(head);
    }
    for (let off = 0; off < raw.length; off += MAX_STORED_BLOCK) {
      const chunk = raw.subarray(off, off + MAX_STORED_BLOCK);
      const head = Buffer.alloc(5);
      head.writeUInt8(0, 0); // BFINAL=0, BTYPE=00 (stored)
      head.writeUInt16LE(chunk.length, 1);
      head.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(head, chunk);
    }
    parts.push(SYNC_FLUSH_MARKER);
    return Buffer.concat(parts);
  }
}

export interface HeaderDecompressorLimits {
  /** Largest inflated header block; past it the block is refused without inflating the rest. */
  maxBlockBytes: number;
  /** Most header values in one block. */
  maxValues: number;
}

/**
 * The receiving half: one inflate stream per connection; each block is written and
 * sync-flushed, and what came out is the block's header list. Calls must not overlap (the
 * session processes frames strictly in order).
 *
 * Inflated output is counted as zlib hands it over (16 KiB at a time): the moment a block passes
 * `maxBlockBytes` the inflater is destroyed and the call fails with SpdyLimitError, so a few
 * hundred KiB of deflate that would expand to gigabytes costs no more than the limit. The
 * connection's compression context is gone after that, as the spec expects: the session ends.
 */
export class HeaderDecompressor {
  private readonly limits: HeaderDecompressorLimits;
  private readonly inflate: Inflate = createInflate({ dictionary: SPDY_DICTIONARY });
  private out: Buffer[] = [];
  private outBytes = 0;
  private inflated = 0;
  private failure: Error | undefined;
  private waiting: { reject: (err: Error) => void } | undefined;

  constructor(limits: Partial<HeaderDecompressorLimits> = {}) {
    this.limits = { maxBlockBytes: Number.MAX_SAFE_INTEGER, maxValues: Number.MAX_SAFE_INTEGER, ...limits };
    this.inflate.on('data', (chunk: Buffer) => this.onInflated(chunk));
    this.inflate.on('error', (err) => this.stop(new SpdyProtocolError(`header decompression failed: ${err.message}`)));
  }

  /** Inflated bytes of the block being decompressed. */
  get pendingBytes(): number {
    return this.outBytes;
  }

  /** Every byte zlib has handed over in this decompressor's life, blocks refused included. */
  get inflatedTotal(): number {
    return this.inflated;
  }

  decompress(block: Buffer): Promise<SpdyHeaders> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.waiting = { reject };
      this.inflate.write(block);
      this.inflate.flush(zc.Z_SYNC_FLUSH, () => {
        if (this.failure || this.waiting?.reject !== reject) return;
        this.waiting = undefined;
        const raw = Buffer.concat(this.out, this.outBytes);
        this.out = [];
        this.outBytes = 0;
        try {
          resolve(decodeHeaderBlock(raw, this.limits.maxValues));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  private onInflated(chunk: Buffer): void {
    this.inflated += chunk.length;
    if (this.failure) return;
    this.outBytes += chunk.length;
    if (this.outBytes > this.limits.maxBlockBytes) {
      this.stop(new SpdyLimitError(`header block inflates past the limit of ${this.limits.maxBlockBytes} bytes`));
      return;
    }
    this.out.push(chunk);
  }

  /** Fails the call in progress and every later one; nothing more is inflated. */
  private stop(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.out = [];
    this.outBytes = 0;
    this.inflate.destroy();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(err);
  }

  close(): void {
    this.stop(new SpdyProtocolError('the header decompressor is closed'));
  }
}
