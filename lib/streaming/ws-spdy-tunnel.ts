import { Duplex } from 'node:stream';
import type { WsConnection } from './websocket/index.js';

/**
 * The prefix Kubernetes' clients put before a SPDY subprotocol to ask for SPDY tunneled over
 * WebSocket (client-go's port-forward "websocket" transport, kubectl 1.30 and later, crictl
 * 1.30 and later): the WebSocket's binary messages carry the SPDY byte stream, cut anywhere.
 */
export const SPDY_TUNNEL_PREFIX = 'SPDY/3.1+';

/**
 * A byte stream over a WebSocket: what arrives in binary messages is read in order, what is
 * written leaves as binary messages. It quacks like the socket a SPDY session expects.
 * Backpressure both ways: a full read buffer pauses reading from the WebSocket, and a write
 * waits for the socket's drain.
 */
export class WsByteTunnel extends Duplex {
  constructor(private readonly conn: WsConnection) {
    super();
    // Pieces of messages as they arrive: a message is a slice of the byte stream, so none is held whole.
    conn.on('data', (piece: Buffer, text: boolean) => {
      if (text) {
        this.destroy(new Error('a SPDY tunnel carries binary messages only'));
        conn.close(1003, 'binary messages only');
        return;
      }
      if (piece.length > 0 && !this.push(piece)) conn.pauseReading(this);
    });
    conn.once('close', () => {
      this.push(null);
      this.destroy();
    });
  }

  /** The SPDY session asks for this; the WebSocket's own socket already has it set. */
  setNoDelay(): this {
    return this;
  }

  override _read(): void {
    this.conn.resumeReading(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk, callback);
  }

  /** Writes made while corked (a SPDY frame header and its payload) leave as one message. */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.send(Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.conn.close(1000);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.conn.isClosed) this.conn.close(error ? 1011 : 1000);
    callback(error);
  }

  private send(data: Buffer, callback: (error?: Error | null) => void): void {
    if (this.conn.isClosed) {
      callback(new Error('the WebSocket is closed'));
      return;
    }
    if (this.conn.send(data)) callback();
    else this.conn.once('drain', () => callback());
  }
}
