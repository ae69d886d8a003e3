/**
 * An HTTP/2 frame filter that repairs the `:authority` of requests arriving on the CRI Unix socket.
 *
 * CRI clients disagree on what authority a Unix socket has: kubelet and current crictl send
 * `localhost`, older ones (and grpc-java/grpc-python) send the socket path, some percent-encode
 * it, send it empty or leave it out. nghttp2, under Node's http2 server, resets every request
 * whose `:authority` it finds invalid before grpc-js ever sees it. This filter sits between the
 * accepted socket and grpc-js and rewrites such authorities to `localhost`.
 *
 * Only the client→server direction is parsed, and there only HEADERS/CONTINUATION frames are
 * held back (until their header block is complete); everything else is forwarded as it arrives.
 * Every header block is decoded with a mirror of the client's HPACK state. While every authority
 * is valid the original bytes are forwarded unchanged (fast path). At the first one that must be
 * fixed the connection switches to re-encoding for good: the server's HPACK table then stops
 * following the client's, so from there on every block is re-sent as literals that never touch
 * the server's dynamic table.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { BoundedHpackDecoder, DEFAULT_HEADER_LIST_LIMITS, HeaderListTooLargeError, type HeaderListLimits } from './h2-header-decoder.js';

/** The 24 octets every HTTP/2 client sends first (RFC 9113 §3.4). */
export const CLIENT_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** The frame size every HTTP/2 peer must accept, whatever its SETTINGS say. */
export const MIN_MAX_FRAME_SIZE = 16384;
/** What a missing, empty or invalid `:authority` becomes. */
export const FALLBACK_AUTHORITY = 'localhost';

export const FRAME_HEADER_SIZE = 9;
export const FRAME_HEADERS = 0x1;
export const FRAME_CONTINUATION = 0x9;
export const FLAG_END_STREAM = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;
const PRIORITY_FIELDS_SIZE = 5;

const DEFAULT_HEADER_TABLE_SIZE = 4096;
/**
 * Octets of one held header block, compressed. A block that decodes within the header list
 * limits cannot need more: even the longest Huffman codes (30 bits) make 64 KiB of octets
 * under 240 KiB.
 */
const DEFAULT_MAX_HEADER_BLOCK_SIZE = 256 * 1024;

/** Raised (and caught by the stream wrapper) for input that is not usable HTTP/2. */
export class H2FilterError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'H2FilterError';
  }
}

/** A header field as HPACK carries it; strings hold one char per octet (latin1). */
export interface HeaderField {
  name: string;
  value: string;
  /** Came as "never indexed" (sensitive); re-encoding keeps that marking. */
  neverIndex?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Authority validation and repair
// ---------------------------------------------------------------------------------------------

/**
 * Octets nghttp2 accepts in `:authority` (RFC 3986 reg-name, IP-literal and port characters),
 * minus '%' (a percent-encoded socket path is no host anyone can use) and '@' (recent nghttp2
 * rejects userinfo in requests).
 */
const AUTHORITY_CHARS: Uint8Array = (() => {
  const table = new Uint8Array(128);
  const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:[]";
  for (let i = 0; i < allowed.length; i++) table[allowed.charCodeAt(i)] = 1;
  return table;
})();

/** True when nghttp2 would let this `:authority` through. */
export function isValidAuthority(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || AUTHORITY_CHARS[c] !== 1) return false;
  }
  return true;
}

/** A request's header block carries `:method`; trailers carry no pseudo-header at all. */
function isRequestBlock(fields: readonly HeaderField[]): boolean {
  return fields.some((f) => f.name === ':method');
}

/** True for a request block whose `:authority` is missing or invalid. */
export function needsAuthorityFix(fields: readonly HeaderField[]): boolean {
  if (!isRequestBlock(fields)) return false;
  let seen = false;
  for (const f of fields) {
    if (f.name !== ':authority') continue;
    if (!isValidAuthority(f.value)) return true;
    seen = true;
  }
  return !seen;
}

/**
 * The block with every invalid `:authority` replaced by `localhost`, or one inserted (among the
 * pseudo-headers, after `:scheme`/`:method`) when there is none. Non-request blocks are returned
 * as they are: trailers must not gain a pseudo-header.
 */
export function withFixedAuthority(fields: readonly HeaderField[]): HeaderField[] {
  if (!isRequestBlock(fields)) return fields.slice();
  let seen = false;
  const out = fields.map((f) => {
    if (f.name !== ':authority') return f;
    seen = true;
    return isValidAuthority(f.value) ? f : { ...f, value: FALLBACK_AUTHORITY };
  });
  if (!seen) {
    let at = 0;
    out.forEach((f, i) => {
      if (f.name === ':method' || f.name === ':scheme') at = i + 1;
    });
    out.splice(at, 0, { name: ':authority', value: FALLBACK_AUTHORITY });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// HPACK encoding (literals only) and HEADERS/CONTINUATION framing
// ---------------------------------------------------------------------------------------------

/** Octets that `value` takes as an RFC 7541 §5.1 integer with an N-bit prefix. */
export function hpackIntegerLength(value: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) return 1;
  let n = 2;
  for (let rest = value - max; rest >= 128; rest = Math.floor(rest / 128)) n++;
  return n;
}

/** Writes an RFC 7541 §5.1 integer; `highBits` fills the first octet above the prefix. */
export function writeHpackInteger(buf: Buffer, offset: number, value: number, prefixBits: number, highBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    buf[offset++] = highBits | value;
    return offset;
  }
  buf[offset++] = highBits | max;
  let rest = value - max;
  while (rest >= 128) {
    buf[offset++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  buf[offset++] = rest;
  return offset;
}

/** "Literal Header Field without Indexing — New Name" (RFC 7541 §6.2.2). */
const LITERAL_WITHOUT_INDEXING = 0x00;
/** "Literal Header Field Never Indexed — New Name" (RFC 7541 §6.2.3). */
const LITERAL_NEVER_INDEXED = 0x10;

function literalStringLength(s: string): number {
  return hpackIntegerLength(s.length, 7) + s.length;
}

/** A raw (H=0) string literal; the string holds one char per octet. */
function writeLiteralString(buf: Buffer, offset: number, s: string): number {
  offset = writeHpackInteger(buf, offset, s.length, 7, 0x00);
  return offset + buf.write(s, offset, 'latin1');
}

/**
 * Encodes fields as plain literals that never add to the receiver's dynamic table, so the
 * receiver's table stays exactly as it was. `prefix` (raw HPACK, e.g. dynamic table size
 * updates) goes first.
 */
export function encodeLiteralHeaderBlock(fields: readonly HeaderField[], prefix: Buffer = Buffer.alloc(0)): Buffer {
  let size = prefix.length;
  for (const f of fields) size += 1 + literalStringLength(f.name) + literalStringLength(f.value);
  const buf = Buffer.allocUnsafe(size);
  let offset = prefix.copy(buf, 0);
  for (const f of fields) {
    buf[offset++] = f.neverIndex ? LITERAL_NEVER_INDEXED : LITERAL_WITHOUT_INDEXING;
    offset = writeLiteralString(buf, offset, f.name);
    offset = writeLiteralString(buf, offset, f.value);
  }
  return buf;
}

/**
 * Length of the "dynamic table size update" instructions (RFC 7541 §6.3) opening a block.
 * They can only appear there. Re-encoded blocks keep them: they never hurt (entries they evict
 * from the server's table are no longer referenced), and nghttp2 insists on one after it has
 * lowered its SETTINGS_HEADER_TABLE_SIZE, so dropping them could fail the connection.
 */
export function leadingTableSizeUpdatesLength(block: Buffer): number {
  let pos = 0;
  while (pos < block.length && (block[pos]! & 0xe0) === 0x20) {
    const continued = (block[pos]! & 0x1f) === 0x1f;
    pos++;
    if (!continued) continue;
    while (pos < block.length && (block[pos]! & 0x80) !== 0) pos++;
    pos++; // the integer's last octet
  }
  return Math.min(pos, block.length);
}

export interface HeaderFramesSpec {
  streamId: number;
  /** The complete HPACK header block. */
  block: Buffer;
  endStream: boolean;
  /** The 5 octets of PRIORITY fields (dependency + weight), or null. */
  priority: Buffer | null;
  /** Largest frame payload the receiver accepts. */
  maxFrameSize?: number;
}

function writeFrameHeader(buf: Buffer, offset: number, length: number, type: number, flags: number, streamId: number): number {
  buf.writeUIntBE(length, offset, 3);
  buf[offset + 3] = type;
  buf[offset + 4] = flags;
  buf.writeUInt32BE(streamId & 0x7fffffff, offset + 5);
  return offset + FRAME_HEADER_SIZE;
}

/** One HEADERS frame plus as many CONTINUATION frames as the block needs, in one buffer. */
export function encodeHeaderFrames(spec: HeaderFramesSpec): Buffer {
  const maxFrameSize = spec.maxFrameSize ?? MIN_MAX_FRAME_SIZE;
  const priorityLength = spec.priority ? PRIORITY_FIELDS_SIZE : 0;
  const firstLength = Math.min(spec.block.length, maxFrameSize - priorityLength);
  const rest = spec.block.length - firstLength;
  const continuations = Math.ceil(rest / maxFrameSize);
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE * (1 + continuations) + priorityLength + spec.block.length);

  let flags = (spec.endStream ? FLAG_END_STREAM : 0) | (continuations === 0 ? FLAG_END_HEADERS : 0);
  if (spec.priority) flags |= FLAG_PRIORITY;
  let offset = writeFrameHeader(out, 0, priorityLength + firstLength, FRAME_HEADERS, flags, spec.streamId);
  if (spec.priority) offset += spec.priority.copy(out, offset, 0, PRIORITY_FIELDS_SIZE);
  offset += spec.block.copy(out, offset, 0, firstLength);

  let taken = firstLength;
  for (let i = 0; i < continuations; i++) {
    const length = Math.min(maxFrameSize, spec.block.length - taken);
    const last = i === continuations - 1;
    offset = writeFrameHeader(out, offset, length, FRAME_CONTINUATION, last ? FLAG_END_HEADERS : 0, spec.streamId);
    offset += spec.block.copy(out, offset, taken, taken + length);
    taken += length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The incremental client→server frame filter
// ---------------------------------------------------------------------------------------------

export interface FrameFilterOptions {
  /**
   * SETTINGS_HEADER_TABLE_SIZE the server advertises (default 4096, what Node and grpc-js use):
   * the largest dynamic table the client's encoder may ask for.
   */
  headerTableSize?: number;
  /** Cap on the octets of one held header block, frame headers included (default 256 KiB). */
  maxHeaderBlockSize?: number;
  /**
   * Cap on a decoded header list (default 64 KiB as RFC 9113 §6.5.2 counts it, and 128 fields:
   * what Node's HTTP/2 server accepts). A block past it ends the connection.
   */
  headerListLimits?: HeaderListLimits;
}

const enum ParseState {
  Preface,
  FrameHeader,
  Payload,
}

/** A header block being collected: its HEADERS frame and the CONTINUATIONs seen so far. */
interface PendingBlock {
  streamId: number;
  endStream: boolean;
  priority: Buffer | null;
  /** The frames exactly as received, for the fast path. */
  raw: Buffer[];
  rawSize: number;
  /** The HPACK fragments, padding and priority fields removed. */
  fragments: Buffer[];
}

/**
 * Parses the client→server byte stream incrementally and hands `emit` what the server should
 * see. Everything except header blocks is emitted as slices of the input chunks. Throws
 * H2FilterError on input that is not HTTP/2; the caller must then drop the connection, since the
 * filter's state is no longer meaningful.
 */
export class ClientFrameFilter {
  private readonly emit: (data: Buffer) => void;
  private readonly maxHeaderBlockSize: number;
  private readonly decoder: BoundedHpackDecoder;

  private state = ParseState.Preface;
  private prefaceMatched = 0;
  /** A frame header split across chunks is assembled here. */
  private readonly headerScratch = Buffer.alloc(FRAME_HEADER_SIZE);
  private headerFill = 0;

  private frameLength = 0;
  private frameType = 0;
  private frameFlags = 0;
  private frameStreamId = 0;
  private remaining = 0;
  /** The current frame belongs to a header block and is held, not forwarded. */
  private holding = false;
  private payloadParts: Buffer[] = [];
  private block: PendingBlock | null = null;

  /** Start, within the chunk being parsed, of bytes to forward as they are; -1 when none. */
  private passStart = -1;
  private reencoding = false;

  constructor(emit: (data: Buffer) => void, options: FrameFilterOptions = {}) {
    this.emit = emit;
    this.maxHeaderBlockSize = options.maxHeaderBlockSize ?? DEFAULT_MAX_HEADER_BLOCK_SIZE;
    this.decoder = new BoundedHpackDecoder(options.headerTableSize ?? DEFAULT_HEADER_TABLE_SIZE, options.headerListLimits ?? DEFAULT_HEADER_LIST_LIMITS);
  }

  /** True once the connection has switched to re-encoding every header block. */
  get rewriting(): boolean {
    return this.reencoding;
  }

  /** Feeds the next chunk received from the client. */
  write(chunk: Buffer): void {
    let pos = 0;
    this.passStart = -1;
    while (pos < chunk.length) {
      switch (this.state) {
        case ParseState.Preface:
          pos = this.readPreface(chunk, pos);
          break;
        case ParseState.FrameHeader:
          pos = this.readFrameHeader(chunk, pos);
          break;
        case ParseState.Payload:
          pos = this.readPayload(chunk, pos);
          break;
      }
    }
    this.flushPass(chunk, chunk.length);
  }

  /** Forwards the pending pass-through range of `chunk`, up to `end`. */
  private flushPass(chunk: Buffer, end: number): void {
    if (this.passStart >= 0 && end > this.passStart) {
      this.emit(this.passStart === 0 && end === chunk.length ? chunk : chunk.subarray(this.passStart, end));
    }
    this.passStart = -1;
  }

  private readPreface(chunk: Buffer, pos: number): number {
    const n = Math.min(CLIENT_PREFACE.length - this.prefaceMatched, chunk.length - pos);
    if (chunk.compare(CLIENT_PREFACE, this.prefaceMatched, this.prefaceMatched + n, pos, pos + n) !== 0) {
      throw new H2FilterError('not an HTTP/2 client connection preface');
    }
    if (this.passStart < 0) this.passStart = pos;
    this.prefaceMatched += n;
    if (this.prefaceMatched === CLIENT_PREFACE.length) this.state = ParseState.FrameHeader;
    return pos + n;
  }

  private readFrameHeader(chunk: Buffer, pos: number): number {
    if (this.headerFill === 0 && chunk.length - pos >= FRAME_HEADER_SIZE) {
      this.parseFrameHeader(chunk, pos);
      this.beginFrame(chunk, pos + FRAME_HEADER_SIZE, null);
      return pos + FRAME_HEADER_SIZE;
    }
    // The header is split across chunks: hold its bytes until its type is known.
    if (this.headerFill === 0) this.flushPass(chunk, pos);
    const n = Math.min(FRAME_HEADER_SIZE - this.headerFill, chunk.length - pos);
    chunk.copy(this.headerScratch, this.headerFill, pos, pos + n);
    this.headerFill += n;
    pos += n;
    if (this.headerFill === FRAME_HEADER_SIZE) {
      this.headerFill = 0;
      this.parseFrameHeader(this.headerScratch, 0);
      // The scratch buffer is reused, so what leaves it must be a copy (rare: split headers only).
      this.beginFrame(chunk, pos, Buffer.from(this.headerScratch));
    }
    return pos;
  }

  private parseFrameHeader(buf: Buffer, offset: number): void {
    this.frameLength = buf.readUIntBE(offset, 3);
    this.frameType = buf[offset + 3]!;
    this.frameFlags = buf[offset + 4]!;
    this.frameStreamId = buf.readUInt32BE(offset + 5) & 0x7fffffff;
  }

  /**
   * Starts the frame whose header was just parsed. `assembled` is that header when it was put
   * together from several chunks; otherwise it lies in `chunk` just before `pos`.
   */
  private beginFrame(chunk: Buffer, pos: number, assembled: Buffer | null): void {
    const type = this.frameType;
    if (this.block && (type !== FRAME_CONTINUATION || this.frameStreamId !== this.block.streamId)) {
      // RFC 9113 §6.10: nothing may come between a header block's frames.
      throw new H2FilterError(`frame type ${type} on stream ${this.frameStreamId} inside a header block`);
    }
    if (!this.block && type === FRAME_CONTINUATION) {
      throw new H2FilterError('CONTINUATION frame without a preceding HEADERS frame');
    }

    this.holding = type === FRAME_HEADERS || type === FRAME_CONTINUATION;
    if (this.holding) {
      const header = assembled ?? chunk.subarray(pos - FRAME_HEADER_SIZE, pos);
      if (!assembled) this.flushPass(chunk, pos - FRAME_HEADER_SIZE);
      this.holdHeaderFrame(header);
    } else if (assembled) {
      this.emit(assembled);
      this.passStart = pos;
    } else if (this.passStart < 0) {
      this.passStart = pos - FRAME_HEADER_SIZE;
    }

    this.remaining = this.frameLength;
    this.payloadParts = [];
    if (this.remaining === 0) this.endFrame();
    else this.state = ParseState.Payload;
  }

  private holdHeaderFrame(header: Buffer): void {
    if (this.frameType === FRAME_HEADERS) {
      this.block = {
        streamId: this.frameStreamId,
        endStream: (this.frameFlags & FLAG_END_STREAM) !== 0,
        priority: null,
        raw: [],
        rawSize: 0,
        fragments: [],
      };
    }
    const block = this.block!;
    block.rawSize += FRAME_HEADER_SIZE + this.frameLength;
    if (block.rawSize > this.maxHeaderBlockSize) {
      throw new H2FilterError(`header block on stream ${block.streamId} exceeds ${this.maxHeaderBlockSize} octets`);
    }
    block.raw.push(header);
  }

  private readPayload(chunk: Buffer, pos: number): number {
    const n = Math.min(this.remaining, chunk.length - pos);
    if (this.holding) {
      const part = chunk.subarray(pos, pos + n);
      this.payloadParts.push(part);
      this.block!.raw.push(part);
    } else if (this.passStart < 0) {
      // A forwarded frame continuing from the previous chunk.
      this.passStart = pos;
    }
    this.remaining -= n;
    if (this.remaining === 0) this.endFrame();
    return pos + n;
  }

  private endFrame(): void {
    this.state = ParseState.FrameHeader;
    if (!this.holding) return;
    this.holding = false;
    const parts = this.payloadParts;
    this.payloadParts = [];
    const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.frameLength);
    this.addFragment(payload);
  }

  /** Strips padding and priority fields off a held frame's payload and keeps the fragment. */
  private addFragment(payload: Buffer): void {
    const block = this.block!;
    let start = 0;
    let end = payload.length;
    if (this.frameType === FRAME_HEADERS) {
      if (this.frameFlags & FLAG_PADDED) {
        if (end < 1) throw new H2FilterError('PADDED HEADERS frame without a pad length');
        end -= payload[0]!;
        start = 1;
      }
      if (this.frameFlags & FLAG_PRIORITY) {
        if (end - start < PRIORITY_FIELDS_SIZE) throw new H2FilterError('HEADERS frame too short for its PRIORITY fields');
        block.priority = payload.subarray(start, start + PRIORITY_FIELDS_SIZE);
        start += PRIORITY_FIELDS_SIZE;
      }
      if (end < start) throw new H2FilterError('HEADERS padding longer than the frame');
    }
    block.fragments.push(payload.subarray(start, end));
    if (this.frameFlags & FLAG_END_HEADERS) this.completeBlock(block);
  }

  private completeBlock(block: PendingBlock): void {
    this.block = null;
    const encoded = block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments);
    // Always decode, even on the fast path: the mirror of the client's table must see every block.
    const fields = this.decode(encoded);
    if (!this.reencoding && !needsAuthorityFix(fields)) {
      this.emit(block.raw.length === 1 ? block.raw[0]! : Buffer.concat(block.raw, block.rawSize));
      return;
    }
    // From here on the server's table no longer mirrors the client's, so no block may reference
    // it again: every later block is re-encoded too.
    this.reencoding = true;
    const prefix = encoded.subarray(0, leadingTableSizeUpdatesLength(encoded));
    this.emit(
      encodeHeaderFrames({
        streamId: block.streamId,
        block: encodeLiteralHeaderBlock(withFixedAuthority(fields), prefix),
        endStream: block.endStream,
        priority: block.priority,
      }),
    );
  }

  private decode(encoded: Buffer): HeaderField[] {
    try {
      return this.decoder.decodeBlock(encoded);
    } catch (err) {
      if (err instanceof HeaderListTooLargeError) throw new H2FilterError(err.message, { cause: err });
      throw new H2FilterError(`HPACK decoding failed: ${(err as Error).message}`, { cause: err });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The socket wrapper handed to grpc-js
// ---------------------------------------------------------------------------------------------

export interface FilterAuthorityOptions extends FrameFilterOptions {
  /** Told why a connection was dropped for malformed input (for logging). */
  onProtocolError?: (err: H2FilterError) => void;
}

/**
 * A Duplex over the client socket: reads are the filtered client→server stream, writes go to the
 * socket untouched. Flow control follows the consumer: when it stops reading, the socket pauses.
 */
class AuthorityFilterStream extends Duplex {
  private readonly socket: Socket | Duplex;
  private readonly frameFilter: ClientFrameFilter;
  private readonly onProtocolError: ((err: H2FilterError) => void) | undefined;
  private socketPaused = false;
  private socketEnded = false;
  /** The write callback waiting for the socket's 'drain'. */
  private pendingWrite: ((err?: Error | null) => void) | null = null;

  constructor(socket: Socket | Duplex, options: FilterAuthorityOptions) {
    // Half-closing is the socket's business; this wrapper only mirrors it.
    super({ allowHalfOpen: true });
    this.socket = socket;
    this.onProtocolError = options.onProtocolError;
    this.frameFilter = new ClientFrameFilter((data) => this.forward(data), options);
    socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('drain', this.onSocketDrain);
    socket.resume();
  }

  private readonly onSocketData = (chunk: Buffer | string): void => {
    if (this.destroyed) return;
    if (typeof chunk === 'string') {
      this.reject(new H2FilterError('socket delivers strings; an encoding was set on it'));
      return;
    }
    try {
      this.frameFilter.write(chunk);
    } catch (err) {
      this.reject(err instanceof H2FilterError ? err : new H2FilterError('frame filter failed', { cause: err }));
    }
  };

  private readonly onSocketEnd = (): void => {
    this.socketEnded = true;
    // A header block cut short by the end is dropped: the server could not have used it either.
    this.push(null);
  };

  private readonly onSocketError = (err: Error): void => {
    this.destroy(err);
  };

  private readonly onSocketClose = (): void => {
    if (this.destroyed) return;
    // After a clean end, let the consumer read what is still buffered before tearing down.
    if (this.socketEnded && !this.readableEnded) this.once('end', () => this.destroy());
    else this.destroy();
  };

  private readonly onSocketDrain = (): void => {
    const callback = this.pendingWrite;
    this.pendingWrite = null;
    callback?.();
  };

  /** Drops the connection quietly: malformed input is the peer's fault, not a local error. */
  private reject(err: H2FilterError): void {
    this.onProtocolError?.(err);
    this.destroy();
  }

  private forward(data: Buffer): void {
    if (!this.push(data) && !this.socketPaused) {
      this.socketPaused = true;
      this.socket.pause();
    }
  }

  override _read(): void {
    if (this.socketPaused) {
      this.socketPaused = false;
      this.socket.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.socket.write(chunk)) callback();
    else this.pendingWrite = callback;
  }

  /**
   * The frames of one flush of the HTTP/2 session (a response's HEADERS, DATA and trailers)
   * go out in one write: one after another they cost a system call and a wakeup each.
   */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk));
    if (this.socket.write(data)) callback();
    else this.pendingWrite = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const pending = this.pendingWrite;
    this.pendingWrite = null;
    pending?.(err ?? new Error('connection closed'));
    this.socket.destroy();
    callback(err);
  }
}

/** Wrap an accepted client socket; the returned Duplex is what gets injected into grpc-js. */
export function filterAuthority(socket: Socket | Duplex, options: FilterAuthorityOptions = {}): Duplex {
  return new AuthorityFilterStream(socket, options);
}
