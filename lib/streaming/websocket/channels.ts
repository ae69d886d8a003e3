import { Readable, Writable } from 'node:stream';
import type { WsConnection } from './connection.js';

/** channel.k8s.io framing: one byte of channel number, or one ASCII digit then base64 text. */
export interface ChannelCodec {
  encode(channel: number, data: Buffer): { payload: Buffer; text: boolean };
  decode(message: Buffer, text: boolean): { channel: number; data: Buffer } | undefined;
}

export const binaryChannels: ChannelCodec = {
  encode: (channel, data) => ({ payload: Buffer.concat([Buffer.of(channel), data]), text: false }),
  decode: (message) => (message.length < 1 ? undefined : { channel: message[0]!, data: message.subarray(1) }),
};

export const base64Channels: ChannelCodec = {
  encode: (channel, data) => ({ payload: Buffer.from(String.fromCharCode(48 + channel) + data.toString('base64'), 'latin1'), text: true }),
  decode: (message) => {
    if (message.length < 1) return undefined;
    const channel = message[0]! - 48;
    if (channel < 0 || channel > 9) return undefined;
    return { channel, data: Buffer.from(message.subarray(1).toString('latin1'), 'base64') };
  },
};

export function codecFor(protocol: string): ChannelCodec {
  return protocol.includes('base64.') ? base64Channels : binaryChannels;
}

export function demuxFor(protocol: string): ChannelDemux {
  return new ChannelDemux(protocol.includes('base64.'));
}

/** Writes to one channel; waits for the socket's drain when it is full. */
export class ChannelWriter extends Writable {
  constructor(private readonly conn: WsConnection, private readonly codec: ChannelCodec, private readonly channel: number) {
    super();
    this.on('error', () => undefined);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.conn.isClosed) return cb(new Error('the WebSocket is closed'));
    const { payload, text } = this.codec.encode(this.channel, chunk);
    if (this.conn.send(payload, text)) cb();
    else this.conn.once('drain', () => cb());
  }
}

/** The client's bytes on one channel; a full reader pauses the whole socket until read. */
/**
 * Bytes a channel holds for its consumer before the WebSocket's socket is paused: pausing
 * closes the peer's TCP window, and reopening it costs a round trip per pause.
 */
const CHANNEL_READ_BUFFER = 256 * 1024;

export class ChannelReader extends Readable {
  private blocked = false;

  constructor(private readonly conn: WsConnection) {
    super({ highWaterMark: CHANNEL_READ_BUFFER });
    this.on('error', () => undefined);
  }

  deliver(data: Buffer): void {
    if (this.readableEnded || this.destroyed) return;
    if (data.length > 0 && !this.push(data)) {
      this.blocked = true;
      this.conn.pauseReading(this);
    }
  }

  override _read(): void {
    if (this.blocked) {
      this.blocked = false;
      this.conn.resumeReading(this);
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.conn.resumeReading(this);
    cb(err);
  }
}

/** Channel data found in one piece of a message. */
export interface ChannelPiece {
  channel: number;
  data: Buffer;
  /** The message's last piece. */
  last: boolean;
}

const NOT_BASE64 = /[^A-Za-z0-9+/]/g;

/**
 * Reads channel.k8s.io messages piece by piece (as WsConnection's `data` events give them), so
 * that a large message is passed on as it arrives instead of being held whole: the channel
 * comes from the message's first byte, the rest is data (decoded from base64 in whole 4-character
 * groups for the base64 protocols, carrying at most 3 characters between pieces).
 */
export class ChannelDemux {
  private channel: number | undefined;
  private ignored = false;
  private carry = '';

  constructor(private readonly base64: boolean) {}

  /** The channel data in `piece`, or undefined when the message has not (or not validly) named its channel yet. */
  push(piece: Buffer, first: boolean, last: boolean): ChannelPiece | undefined {
    if (first) {
      this.channel = undefined;
      this.ignored = false;
      this.carry = '';
    }
    if (this.ignored) return undefined;
    if (this.channel === undefined) {
      if (piece.length === 0) return undefined;
      const channel = this.base64 ? piece[0]! - 48 : piece[0]!;
      if (this.base64 && (channel < 0 || channel > 9)) {
        this.ignored = !last;
        return undefined;
      }
      this.channel = channel;
      piece = piece.subarray(1);
    }
    return { channel: this.channel, data: this.base64 ? this.decodeBase64(piece, last) : piece, last };
  }

  private decodeBase64(piece: Buffer, last: boolean): Buffer {
    const text = this.carry + piece.toString('latin1').replace(NOT_BASE64, '');
    const whole = last ? text.length : text.length - (text.length % 4);
    this.carry = text.slice(whole);
    return Buffer.from(text.slice(0, whole), 'base64');
  }
}

/**
 * Collects the short messages of a control channel (resize, v5 close) from their pieces; a
 * message longer than `maxBytes` is dropped rather than held.
 */
export class SmallMessage {
  private parts: Buffer[] = [];
  private bytes = 0;
  private dropped = false;

  constructor(private readonly maxBytes: number) {}

  /** The whole message once its last piece is in; undefined before, and for a dropped one. */
  push(piece: ChannelPiece): Buffer | undefined {
    if (!this.dropped) {
      this.bytes += piece.data.length;
      if (this.bytes > this.maxBytes) {
        this.dropped = true;
        this.parts = [];
      } else {
        this.parts.push(piece.data);
      }
    }
    if (!piece.last) return undefined;
    const whole = this.dropped ? undefined : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    this.dropped = false;
    return whole;
  }
}
