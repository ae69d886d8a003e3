import { createHash } from 'node:crypto';

/** RFC 6455 opcodes. */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + HANDSHAKE_GUID).digest('base64');
}

export interface WsFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

export class WsProtocolError extends Error {
  constructor(message: string, readonly closeCode: number) {
    super(message);
  }
}

/** Encodes one frame; `mask` is required from clients and forbidden from servers. */
export function encodeWsFrame(opcode: number, payload: Buffer, options: { fin?: boolean; mask?: Buffer } = {}): Buffer {
  const len = payload.length;
  const extra = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const head = Buffer.allocUnsafe(2 + extra + (options.mask ? 4 : 0));
  head[0] = ((options.fin ?? true) ? 0x80 : 0) | opcode;
  const maskBit = options.mask ? 0x80 : 0;
  if (extra === 0) head[1] = maskBit | len;
  else if (extra === 2) {
    head[1] = maskBit | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!options.mask) return Buffer.concat([head, payload]);
  options.mask.copy(head, 2 + extra);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= options.mask[i & 3]!;
  return Buffer.concat([head, body]);
}

/** A data frame being handed on in pieces. */
interface Piecing {
  fin: boolean;
  opcode: number;
  mask: Buffer | null;
  /** Payload bytes handed on so far (where the mask continues). */
  done: number;
  left: number;
  /** No piece has left yet: the next one carries the frame's opcode. */
  first: boolean;
}

function isControl(opcode: number): boolean {
  return opcode >= 0x8;
}

/**
 * Splits a byte stream into frames, unmasking payloads. `requireMask` is the server's rule
 * (every client frame is masked); no frame may be larger than `maxPayload`.
 *
 * A data frame larger than `pieceBytes` is handed on in pieces as its bytes arrive, each piece a
 * frame of its own: the first with the frame's opcode, the rest as continuations, FIN (if the
 * frame had it) on the last. That is a legal fragmentation of the same message, so the
 * connection reassembles it as any other, and the parser never holds a large frame entire:
 * what it holds is bounded by `pieceBytes` plus one input chunk.
 */
export class WsFrameParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private need = 2;
  private piecing: Piecing | null = null;

  constructor(private readonly requireMask: boolean, private readonly maxPayload: number, private readonly pieceBytes: number = maxPayload) {}

  /** Bytes received and not yet handed on. */
  get buffered(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer): WsFrame[] {
    const frames: WsFrame[] = [];
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
    for (;;) {
      const avail = buf.length - off;
      if (avail < 2) {
        this.need = 2;
        break;
      }
      const b0 = buf[off]!;
      const b1 = buf[off + 1]!;
      if (b0 & 0x70) throw new WsProtocolError('reserved bits set without an extension', 1002);
      const masked = (b1 & 0x80) !== 0;
      if (masked !== this.requireMask) throw new WsProtocolError(masked ? 'a server frame must not be masked' : 'a client frame must be masked', 1002);
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      let len = b1 & 0x7f;
      let headLen = 2;
      if (len === 126) headLen = 4;
      else if (len === 127) headLen = 10;
      if (avail < headLen + (masked ? 4 : 0)) {
        this.need = headLen + (masked ? 4 : 0);
        break;
      }
      if (len === 126) len = buf.readUInt16BE(off + 2);
      else if (len === 127) {
        const big = buf.readBigUInt64BE(off + 2);
        if (big > BigInt(this.maxPayload)) throw new WsProtocolError('frame too large', 1009);
        len = Number(big);
      }
      if (len > this.maxPayload) throw new WsProtocolError('frame too large', 1009);
      if (isControl(opcode) && (len > 125 || !fin)) throw new WsProtocolError('control frames must be short and unfragmented', 1002);
      const maskOff = off + headLen;
      const dataOff = maskOff + (masked ? 4 : 0);
      const mask = masked ? buf.subarray(maskOff, maskOff + 4) : null;
      if (buf.length - dataOff < len) {
        if (!isControl(opcode) && len > this.pieceBytes) {
          // Too big to wait for whole: hand on what is here, take the rest as it comes.
          this.piecing = { fin, opcode, mask: mask && Buffer.from(mask), done: 0, left: len, first: true };
          this.emitPiece(frames, buf.subarray(dataOff));
          off = buf.length;
          this.need = 2;
        } else {
          this.need = dataOff - off + len;
        }
        break;
      }
      frames.push({ fin, opcode, payload: unmasked(buf.subarray(dataOff, dataOff + len), mask, 0) });
      off = dataOff + len;
    }
    buf = buf.subarray(off);
    this.pending = buf.length > 0 ? [buf] : [];
    this.pendingBytes = buf.length;
    return frames;
  }

  private emitPiece(frames: WsFrame[], data: Buffer): void {
    const p = this.piecing!;
    const payload = unmasked(data, p.mask, p.done);
    p.done += data.length;
    p.left -= data.length;
    const last = p.left === 0;
    if (last) this.piecing = null;
    if (data.length === 0 && !last) return;
    frames.push({ fin: last && p.fin, opcode: p.first ? p.opcode : Opcode.CONTINUATION, payload });
    p.first = false;
  }
}

/** A copy of `data` unmasked with `mask`, whose use starts `offset` bytes into the frame. */
function unmasked(data: Buffer, mask: Buffer | null, offset: number): Buffer {
  const out = Buffer.from(data);
  if (!mask) return out;
  const m = [mask[offset & 3]!, mask[(offset + 1) & 3]!, mask[(offset + 2) & 3]!, mask[(offset + 3) & 3]!];
  for (let i = 0; i < out.length; i++) out[i]! ^= m[i & 3]!;
  return out;
}
