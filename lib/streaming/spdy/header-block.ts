import { createInflate, constants as zc, type Inflate } from 'node:zlib';
import { SPDY_DICTIONARY } from './dictionary.js';
import { SpdyProtocolError } from './frames.js';

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

export function decodeHeaderBlock(raw: Buffer): SpdyHeaders {
  const headers: SpdyHeaders = new Map();
  if (raw.length < 4) throw new SpdyProtocolError('header block is too short');
  const count = raw.readUInt32BE(0);
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
    const values = take().split('\0');
    headers.set(name, [...(headers.get(name) ?? []), ...values]);
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

/**
 * The receiving half: one inflate stream per connection; each block is written and
 * sync-flushed, and what came out is the block's header list. Calls must not overlap (the
 * session processes frames strictly in order).
 */
export class HeaderDecompressor {
  private readonly inflate: Inflate = createInflate({ dictionary: SPDY_DICTIONARY });
  private out: Buffer[] = [];
  private failure: Error | undefined;

  constructor() {
    this.inflate.on('data', (chunk: Buffer) => this.out.push(chunk));
    this.inflate.on('error', (err) => {
      this.failure = err;
    });
  }

  decompress(block: Buffer): Promise<SpdyHeaders> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(new SpdyProtocolError(`header decompression failed: ${this.failure.message}`));
      this.inflate.write(block);
      this.inflate.flush(zc.Z_SYNC_FLUSH, () => {
        if (this.failure) return reject(new SpdyProtocolError(`header decompression failed: ${this.failure.message}`));
        const raw = Buffer.concat(this.out);
        this.out = [];
        try {
          resolve(decodeHeaderBlock(raw));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  close(): void {
    this.inflate.destroy();
  }
}
