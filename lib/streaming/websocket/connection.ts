import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Opcode, WsFrameParser, WsProtocolError, encodeWsFrame } from './frames.js';

export type WsRole = 'server' | 'client';

/**
 * A WebSocket over an upgraded socket: reassembles messages, answers pings and the closing
 * handshake. Emits `message` (Buffer, isText) and `close`. `send` returns false when the socket
 * wants the writer to wait for `drain`, which is where backpressure comes from.
 */
export class WsConnection extends EventEmitter {
  private readonly parser: WsFrameParser;
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private closeSent = false;
  private closed = false;

  constructor(readonly socket: Socket, private readonly role: WsRole, head?: Buffer, maxMessage = 16 * 1024 * 1024) {
    super();
    this.parser = new WsFrameParser(role === 'server', maxMessage);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('drain', () => this.emit('drain'));
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    // HTTP servers keep sockets half-open; a peer that stopped sending has left.
    socket.on('end', () => {
      socket.end();
      this.teardown();
    });
    // Bytes that came with the upgrade response wait a tick, so that the creator can attach its
    // listeners first; the creator may have paused the socket for the same reason.
    process.nextTick(() => {
      if (head && head.length > 0) this.onBytes(head);
      socket.resume();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    try {
      for (const frame of this.parser.push(chunk)) this.onFrame(frame.fin, frame.opcode, frame.payload);
    } catch (err) {
      this.close(err instanceof WsProtocolError ? err.closeCode : 1002, (err as Error).message);
    }
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case Opcode.PING:
        this.writeFrame(Opcode.PONG, payload);
        return;
      case Opcode.PONG:
        return;
      case Opcode.CLOSE: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1000;
        this.close(code === 1005 ? 1000 : code);
        return;
      }
      case Opcode.CONTINUATION:
        if (this.fragments.length === 0) throw new WsProtocolError('continuation without a first fragment', 1002);
        this.fragments.push(payload);
        break;
      case Opcode.TEXT:
      case Opcode.BINARY:
        if (this.fragments.length > 0) throw new WsProtocolError('a new message inside a fragmented one', 1002);
        this.fragmentOpcode = opcode;
        this.fragments.push(payload);
        break;
      default:
        throw new WsProtocolError(`unknown opcode ${opcode}`, 1002);
    }
    if (!fin) return;
    const message = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
    this.fragments = [];
    this.emit('message', message, this.fragmentOpcode === Opcode.TEXT);
  }

  private writeFrame(opcode: number, payload: Buffer): boolean {
    if (this.closed || this.closeSent || !this.socket.writable) return true;
    const mask = this.role === 'client' ? randomBytes(4) : undefined;
    return this.socket.write(encodeWsFrame(opcode, payload, { mask }));
  }

  send(data: Buffer, text = false): boolean {
    return this.writeFrame(text ? Opcode.TEXT : Opcode.BINARY, data);
  }

  /** Starts (or answers) the closing handshake, then closes the socket. */
  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    if (!this.closeSent) {
      const body = Buffer.alloc(2 + Buffer.byteLength(reason));
      body.writeUInt16BE(code, 0);
      body.write(reason, 2);
      this.writeFrame(Opcode.CLOSE, body.subarray(0, 125));
      this.closeSent = true;
    }
    this.socket.end();
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('drain');
    this.emit('close');
  }
}
