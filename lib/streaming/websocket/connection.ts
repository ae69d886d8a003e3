import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { StreamingLimits } from '../limits.js';
import { endSocket } from '../socket-end.js';
import { Opcode, WsFrameParser, WsProtocolError, encodeWsFrame } from './frames.js';

export type WsRole = 'server' | 'client';

export interface WsConnectionOptions {
  /** Largest message (all its fragments together), so also the largest frame; past it: close 1009. */
  maxMessage: number;
  /** Data frames larger than this reach the connection in pieces (see WsFrameParser). */
  pieceBytes: number;
  /** Unsent bytes past which the connection stops reading from the peer until they drain. */
  sendBacklogBytes: number;
  /**
   * Emit `message` with every message whole. Off on the server, whose readers take `data`
   * pieces and so never hold a message; on for the client side (tests, tools).
   */
  assemble: boolean;
}

/**
 * A WebSocket over an upgraded socket: follows messages across fragments, answers pings and the
 * closing handshake. Emits `data` (piece, isText, first, last) for every piece of a data message
 * as it arrives, `message` (Buffer, isText) with whole messages when `assemble` is set,
 * `protocol-error` (why the connection is being closed on the peer's account) and `close`. `send` returns false when the socket wants the writer to wait for `drain`, which is
 * where backpressure comes from.
 *
 * A message past `maxMessage` closes the connection with 1009 as soon as its size shows, before
 * the rest is read. Reading pauses while a reader is full (`pauseReading`) and while the peer
 * leaves more than `sendBacklogBytes` unread (a PING flood).
 */
export class WsConnection extends EventEmitter {
  private readonly options: WsConnectionOptions;
  private readonly parser: WsFrameParser;
  private readonly holders = new Set<object>();
  private backlogged = false;
  private fragments: Buffer[] = [];
  private inMessage = false;
  private messageBytes = 0;
  private messageText = false;
  private closeSent = false;
  private closed = false;

  constructor(readonly socket: Socket, private readonly role: WsRole, head?: Buffer, options: Partial<WsConnectionOptions> = {}) {
    super();
    this.options = {
      maxMessage: StreamingLimits.wsMessageBytes,
      pieceBytes: StreamingLimits.framePieceBytes,
      sendBacklogBytes: StreamingLimits.sendBacklogBytes,
      assemble: role === 'client',
      ...options,
    };
    this.parser = new WsFrameParser(role === 'server', this.options.maxMessage, this.options.pieceBytes);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('drain', () => {
      this.emit('drain');
      if (this.backlogged) {
        this.backlogged = false;
        this.updateFlow();
      }
    });
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    // HTTP servers keep sockets half-open; a peer that stopped sending has left.
    socket.on('end', () => {
      endSocket(socket);
      this.teardown();
    });
    // Bytes that came with the upgrade response wait a tick, so that the creator can attach its
    // listeners first; the creator may have paused the socket for the same reason.
    process.nextTick(() => {
      if (head && head.length > 0) this.onBytes(head);
      this.updateFlow();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops reading from the socket until `resumeReading` with the same holder (a full reader). */
  pauseReading(holder: object): void {
    this.holders.add(holder);
    this.updateFlow();
  }

  resumeReading(holder: object): void {
    if (this.holders.delete(holder)) this.updateFlow();
  }

  private updateFlow(): void {
    if (this.closed) return;
    if (this.holders.size > 0 || this.backlogged) this.socket.pause();
    else this.socket.resume();
  }

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    try {
      for (const frame of this.parser.push(chunk)) {
        this.onFrame(frame.fin, frame.opcode, frame.payload);
        if (this.closed) return;
      }
    } catch (err) {
      this.emit('protocol-error', err);
      this.close(err instanceof WsProtocolError ? err.closeCode : 1002, (err as Error).message);
      return;
    }
    if (!this.backlogged && this.socket.writableLength > this.options.sendBacklogBytes) {
      this.backlogged = true;
      this.updateFlow();
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
        // The peer's code is echoed, unless it is one no endpoint may send (RFC 6455 §7.4).
        if (payload.length === 0) this.close(1000);
        else if (payload.length >= 2 && isSendableCloseCode(payload.readUInt16BE(0))) this.close(payload.readUInt16BE(0));
        else throw new WsProtocolError('invalid close frame', 1002);
        return;
      }
      case Opcode.CONTINUATION:
        if (!this.inMessage) throw new WsProtocolError('continuation without a first fragment', 1002);
        this.onData(payload, false, fin);
        return;
      case Opcode.TEXT:
      case Opcode.BINARY:
        if (this.inMessage) throw new WsProtocolError('a new message inside a fragmented one', 1002);
        this.inMessage = true;
        this.messageBytes = 0;
        this.messageText = opcode === Opcode.TEXT;
        this.onData(payload, true, fin);
        return;
      default:
        throw new WsProtocolError(`unknown opcode ${opcode}`, 1002);
    }
  }

  private onData(piece: Buffer, first: boolean, last: boolean): void {
    this.messageBytes += piece.length;
    if (this.messageBytes > this.options.maxMessage) {
      throw new WsProtocolError(`message larger than ${this.options.maxMessage} bytes`, 1009);
    }
    if (last) this.inMessage = false;
    const text = this.messageText;
    if (this.options.assemble) this.fragments.push(piece);
    this.emit('data', piece, text, first, last);
    if (!last || !this.options.assemble) return;
    const message = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments, this.messageBytes);
    this.fragments = [];
    this.emit('message', message, text);
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
    endSocket(this.socket);
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.fragments = [];
    this.emit('drain');
    this.emit('close');
  }
}

/** Close codes an endpoint may put on the wire: the defined ones of RFC 6455 §7.4.1 and IANA's, and the 3000-4999 range. */
function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}
