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

/**
 * Splits a byte stream into frames, unmasking payloads. `requireMask` is the server's rule
 * (every client frame is masked).
 */
export class WsFrameParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private need = 2;

  constructor(private readonly requireMask: boolean, private readonly maxPayload: number) {}

  push(chunk: Buffer): WsFrame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.need) return [];
    let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const frames: WsFrame[] = [];
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
      const maskOff = off + headLen;
      const dataOff = maskOff + (masked ? 4 : 0);
      if (buf.length - dataOff < len) {
        this.need = dataOff - off + len;
        break;
      }
      const payload = Buffer.from(buf.subarray(dataOff, dataOff + len));
      if (masked) {
        const m0 = buf[maskOff]!, m1 = buf[maskOff + 1]!, m2 = buf[maskOff + 2]!, m3 = buf[maskOff + 3]!;
        const masks = [m0, m1, m2, m3];
        for (let i = 0; i < payload.length; i++) payload[i]! ^= masks[i & 3]!;
      }
      const opcode = b0 & 0x0f;
      if (opcode >= 0x8 && (len > 125 || !(b0 & 0x80))) throw new WsProtocolError('control frames must be short and unfragmented', 1002);
      frames.push({ fin: (b0 & 0x80) !== 0, opcode, payload });
      off = dataOff + len;
    }
    buf = buf.subarray(off);
    this.pending = buf.length > 0 ? [buf] : [];
    this.pendingBytes = buf.length;
    return frames;
  }
}
