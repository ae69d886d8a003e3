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
export class ChannelReader extends Readable {
  private blocked = false;

  constructor(private readonly conn: WsConnection) {
    super();
    this.on('error', () => undefined);
  }

  deliver(data: Buffer): void {
    if (this.readableEnded || this.destroyed) return;
    if (data.length > 0 && !this.push(data)) {
      this.blocked = true;
      this.conn.socket.pause();
    }
  }

  override _read(): void {
    if (this.blocked) {
      this.blocked = false;
      if (!this.conn.isClosed) this.conn.socket.resume();
    }
  }
}
