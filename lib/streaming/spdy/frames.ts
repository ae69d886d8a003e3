/**
 * SPDY/3 frame layouts (SPDY Protocol draft 3, section 2.2 and 2.6): pure encoding and
 * decoding, no I/O. Header blocks travel here still compressed; `header-block.ts` owns zlib.
 */
export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** The largest payload the 24-bit length field can carry. */
export const MAX_FRAME_PAYLOAD = 0xffffff;
const HEADER_BYTES = 8;
/** Control frames whose payload starts with the stream ID: the ones carrying a header block. */
const HEADER_BLOCK_FRAMES: ReadonlySet<number> = new Set([FrameType.SYN_STREAM, FrameType.SYN_REPLY, FrameType.HEADERS]);
const STREAM_ID_MASK = 0x7fffffff;

export type Frame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'syn_stream'; streamId: number; associatedId: number; priority: number; flags: number; headerBlock: Buffer }
  | { kind: 'syn_reply'; streamId: number; flags: number; headerBlock: Buffer }
  | { kind: 'headers'; streamId: number; flags: number; headerBlock: Buffer }
  | { kind: 'rst_stream'; streamId: number; status: number }
  | { kind: 'settings'; flags: number; entries: { flags: number; id: number; value: number }[] }
  | { kind: 'ping'; id: number }
  | { kind: 'goaway'; lastGoodStreamId: number; status: number }
  | { kind: 'window_update'; streamId: number; delta: number }
  /** A control frame of a type this peer does not know: the spec says to ignore it. */
  | { kind: 'unknown'; type: number };

export class SpdyProtocolError extends Error {}

/**
 * Input past one of the session's size limits. `streamId` is set when the frame belongs to a
 * stream (a header block), which the spec answers with RST_STREAM FRAME_TOO_LARGE before the
 * session ends: an unread header block leaves the compression contexts out of step.
 */
export class SpdyLimitError extends SpdyProtocolError {
  constructor(message: string, readonly streamId?: number) {
    super(message);
  }
}

function controlHeader(type: number, flags: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt32BE(((flags & 0xff) << 24 | length) >>> 0, 4);
  return b;
}

/** The 8-byte header of a DATA frame; the payload follows it on the wire unchanged. */
export function dataFrameHeader(streamId: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) throw new RangeError(`DATA payload of ${length} bytes exceeds the frame limit`);
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  b.writeUInt32BE(((flags & 0xff) << 24 | length) >>> 0, 4);
  return b;
}

export function encodeFrame(frame: Exclude<Frame, { kind: 'unknown' }>): Buffer {
  switch (frame.kind) {
    case 'data':
      return Buffer.concat([dataFrameHeader(frame.streamId, frame.flags, frame.data.length), frame.data]);
    case 'syn_stream': {
      const fixed = Buffer.alloc(10);
      fixed.writeUInt32BE(frame.streamId & STREAM_ID_MASK, 0);
      fixed.writeUInt32BE(frame.associatedId & STREAM_ID_MASK, 4);
      fixed.writeUInt8((frame.priority & 0x7) << 5, 8);
      return Buffer.concat([controlHeader(FrameType.SYN_STREAM, frame.flags, 10 + frame.headerBlock.length), fixed, frame.headerBlock]);
    }
    case 'syn_reply':
    case 'headers': {
      const id = Buffer.alloc(4);
      id.writeUInt32BE(frame.streamId & STREAM_ID_MASK, 0);
      const type = frame.kind === 'syn_reply' ? FrameType.SYN_REPLY : FrameType.HEADERS;
      return Buffer.concat([controlHeader(type, frame.flags, 4 + frame.headerBlock.length), id, frame.headerBlock]);
    }
    case 'rst_stream': {
      const body = Buffer.alloc(8);
      body.writeUInt32BE(frame.streamId & STREAM_ID_MASK, 0);
      body.writeUInt32BE(frame.status, 4);
      return Buffer.concat([controlHeader(FrameType.RST_STREAM, 0, 8), body]);
    }
    case 'settings': {
      const body = Buffer.alloc(4 + 8 * frame.entries.length);
      body.writeUInt32BE(frame.entries.length, 0);
      frame.entries.forEach((e, i) => {
        body.writeUInt32BE(((e.flags & 0xff) << 24 | (e.id & 0xffffff)) >>> 0, 4 + 8 * i);
        body.writeUInt32BE(e.value >>> 0, 8 + 8 * i);
      });
      return Buffer.concat([controlHeader(FrameType.SETTINGS, frame.flags, body.length), body]);
    }
    case 'ping': {
      const body = Buffer.alloc(4);
      body.writeUInt32BE(frame.id >>> 0, 0);
      return Buffer.concat([controlHeader(FrameType.PING, 0, 4), body]);
    }
    case 'goaway': {
      const body = Buffer.alloc(8);
      body.writeUInt32BE(frame.lastGoodStreamId & STREAM_ID_MASK, 0);
      body.writeUInt32BE(frame.status, 4);
      return Buffer.concat([controlHeader(FrameType.GOAWAY, 0, 8), body]);
    }
    case 'window_update': {
      const body = Buffer.alloc(8);
      body.writeUInt32BE(frame.streamId & STREAM_ID_MASK, 0);
      body.writeUInt32BE(frame.delta & STREAM_ID_MASK, 4);
      return Buffer.concat([controlHeader(FrameType.WINDOW_UPDATE, 0, 8), body]);
    }
  }
}

function need(payload: Buffer, bytes: number, what: string): void {
  if (payload.length < bytes) throw new SpdyProtocolError(`${what} frame of ${payload.length} bytes is too short`);
}

function decodeControl(type: number, flags: number, p: Buffer): Frame {
  switch (type) {
    case FrameType.SYN_STREAM:
      need(p, 10, 'SYN_STREAM');
      return {
        kind: 'syn_stream', streamId: p.readUInt32BE(0) & STREAM_ID_MASK, associatedId: p.readUInt32BE(4) & STREAM_ID_MASK,
        priority: p.readUInt8(8) >> 5, flags, headerBlock: p.subarray(10),
      };
    case FrameType.SYN_REPLY:
      need(p, 4, 'SYN_REPLY');
      return { kind: 'syn_reply', streamId: p.readUInt32BE(0) & STREAM_ID_MASK, flags, headerBlock: p.subarray(4) };
    case FrameType.HEADERS:
      need(p, 4, 'HEADERS');
      return { kind: 'headers', streamId: p.readUInt32BE(0) & STREAM_ID_MASK, flags, headerBlock: p.subarray(4) };
    case FrameType.RST_STREAM:
      need(p, 8, 'RST_STREAM');
      return { kind: 'rst_stream', streamId: p.readUInt32BE(0) & STREAM_ID_MASK, status: p.readUInt32BE(4) };
    case FrameType.SETTINGS: {
      need(p, 4, 'SETTINGS');
      const count = p.readUInt32BE(0);
      need(p, 4 + 8 * count, 'SETTINGS');
      const entries = [];
      for (let i = 0; i < count; i++) {
        const word = p.readUInt32BE(4 + 8 * i);
        entries.push({ flags: word >>> 24, id: word & 0xffffff, value: p.readUInt32BE(8 + 8 * i) });
      }
      return { kind: 'settings', flags, entries };
    }
    case FrameType.PING:
      need(p, 4, 'PING');
      return { kind: 'ping', id: p.readUInt32BE(0) };
    case FrameType.GOAWAY:
      need(p, 8, 'GOAWAY');
      return { kind: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & STREAM_ID_MASK, status: p.readUInt32BE(4) };
    case FrameType.WINDOW_UPDATE:
      need(p, 8, 'WINDOW_UPDATE');
      return { kind: 'window_update', streamId: p.readUInt32BE(0) & STREAM_ID_MASK, delta: p.readUInt32BE(4) & STREAM_ID_MASK };
    default:
      return { kind: 'unknown', type };
  }
}

export interface FrameParserLimits {
  /** Largest control frame payload accepted; a larger one is a SpdyLimitError. */
  maxControlPayload: number;
  /** DATA payloads larger than this are handed on in pieces as they arrive instead of whole. */
  dataPiece: number;
}

/**
 * Splits a byte stream into frames. Feed it whatever the socket delivers; it keeps the partial
 * tail for the next call. Payloads are views, not copies. A DATA frame larger than
 * `limits.dataPiece` comes out as several DATA frames of the same stream, in order, FIN on the
 * last: a stream is a byte stream, so nothing downstream can tell, and the parser never holds
 * more than one piece of it. What the parser holds at any time is bounded by the larger of the
 * two limits plus one input chunk.
 */
export class FrameParser {
  private readonly limits: FrameParserLimits;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes needed before the next frame is complete: joining chunks earlier would be wasted copying. */
  private need = HEADER_BYTES;
  /** A DATA frame being handed on in pieces: its stream, its flags, and the payload bytes still to come. */
  private piecing: { streamId: number; flags: number; left: number } | null = null;

  constructor(limits: Partial<FrameParserLimits> = {}) {
    this.limits = { maxControlPayload: MAX_FRAME_PAYLOAD, dataPiece: MAX_FRAME_PAYLOAD, ...limits };
  }

  /** Bytes received and not yet handed on. */
  get buffered(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    if (this.piecing) {
      const take = Math.min(this.piecing.left, chunk.length);
      this.emitPiece(frames, chunk.subarray(0, take));
      chunk = chunk.subarray(take);
      if (chunk.length === 0) return frames;
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.need) return frames;
    let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    let off = 0;
    this.need = HEADER_BYTES;
    while (buf.length - off >= HEADER_BYTES) {
      const word0 = buf.readUInt32BE(off);
      const word1 = buf.readUInt32BE(off + 4);
      const flags = word1 >>> 24;
      const length = word1 & 0xffffff;
      const available = buf.length - off - HEADER_BYTES;
      const control = (word0 & 0x80000000) !== 0;
      if (control) {
        const version = (word0 >>> 16) & 0x7fff;
        if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
        if (length > this.limits.maxControlPayload) {
          const type = word0 & 0xffff;
          if (HEADER_BLOCK_FRAMES.has(type) && available < 4) {
            this.need = HEADER_BYTES + 4;
            break;
          }
          this.refuseControl(type, length, buf, off + HEADER_BYTES);
        }
      }
      if (available < length) {
        if (!control && length > this.limits.dataPiece) {
          // Too big to wait for whole: hand on what is here, take the rest as it comes.
          this.piecing = { streamId: word0 & STREAM_ID_MASK, flags, left: length };
          this.emitPiece(frames, buf.subarray(off + HEADER_BYTES));
          off = buf.length;
        } else {
          this.need = HEADER_BYTES + length;
        }
        break;
      }
      const payload = buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + length);
      off += HEADER_BYTES + length;
      if (control) frames.push(decodeControl(word0 & 0xffff, flags, payload));
      else frames.push({ kind: 'data', streamId: word0 & STREAM_ID_MASK, flags, data: payload });
    }
    buf = buf.subarray(off);
    this.pending = buf.length > 0 ? [buf] : [];
    this.pendingBytes = buf.length;
    return frames;
  }

  /** The next piece of the DATA frame being handed on; FIN (if the frame had it) goes with the last. */
  private emitPiece(frames: Frame[], data: Buffer): void {
    const p = this.piecing!;
    p.left -= data.length;
    const last = p.left === 0;
    if (last) this.piecing = null;
    if (data.length > 0 || last) frames.push({ kind: 'data', streamId: p.streamId, flags: last ? p.flags : p.flags & ~FLAG_FIN, data });
  }

  /**
   * An oversized control frame is refused from its header, before its payload is buffered; a
   * header block's also names its stream (the payload's first four bytes, waited for).
   */
  private refuseControl(type: number, length: number, buf: Buffer, payloadOff: number): never {
    const what = `control frame of type ${type} with ${length} bytes exceeds the limit of ${this.limits.maxControlPayload}`;
    const streamId = HEADER_BLOCK_FRAMES.has(type) ? buf.readUInt32BE(payloadOff) & STREAM_ID_MASK : undefined;
    throw new SpdyLimitError(what, streamId);
  }
}
