import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { StreamingLimits } from '../limits.js';
import { endSocket } from '../socket-end.js';
import { FLAG_FIN, FrameParser, RstStatus, SpdyLimitError, dataFrameHeader, encodeFrame, type Frame } from './frames.js';
import { HeaderCompressor, HeaderDecompressor, encodeHeaderBlock, type SpdyHeaders } from './header-block.js';

/**
 * DATA payloads are cut at this size: big enough that framing costs nothing, small enough
 * that one stream's burst does not hold the connection for long.
 */
const DATA_CHUNK = 128 * 1024;
/**
 * Writers wait for the socket's drain only past this much unsent data: the socket's own 16 KiB
 * mark is smaller than one pipe read, so honouring it would stop the producer on every chunk.
 */
const SEND_BUFFER_LIMIT = 1024 * 1024;

/**
 * One SPDY stream as a Node duplex. Writes become DATA frames; `end()` sends FIN. Reading
 * is paced by the socket: when a consumer stops reading, the whole connection's socket is
 * paused (SPDY windows are not used: Go's peer never sends WINDOW_UPDATE).
 */
/**
 * Bytes a stream holds for its consumer before the connection's socket is paused. Pausing is
 * expensive (the peer's TCP window closes and reopens a round trip later), so a stream
 * buffers a few frames' worth rather than Node's 16 KiB default.
 */
const STREAM_READ_BUFFER = 256 * 1024;

export class SpdyStream extends Duplex {
  private remoteFin = false;
  private localFin = false;

  constructor(private readonly session: SpdySession, readonly id: number, readonly headers: SpdyHeaders) {
    super({ allowHalfOpen: true, readableHighWaterMark: STREAM_READ_BUFFER });
    // A stream that fails is also closed, and every user watches 'close'; an unwatched
    // 'error' must not take the daemon down.
    this.on('error', () => undefined);
  }

  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase())?.[0];
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.session.sendData(this.id, chunk, false, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.localFin = true;
    this.session.sendData(this.id, Buffer.alloc(0), true, cb);
  }

  override _read(): void {
    this.session.unblock(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.session.forget(this, !(this.remoteFin && this.localFin));
    cb(err);
  }

  /** @internal data that arrived for this stream. */
  deliver(data: Buffer, fin: boolean): void {
    if (this.remoteFin) return;
    if (data.length > 0 && !this.push(data)) this.session.block(this);
    if (fin) {
      this.remoteFin = true;
      this.push(null);
    }
  }

  /** @internal the peer reset the stream. */
  reset(): void {
    this.remoteFin = true;
    this.localFin = true;
    this.destroy();
  }
}

export type SpdyRole = 'server' | 'client';

/** GOAWAY status codes (SPDY/3.1 section 2.6.6). */
const GoawayStatus = { OK: 0, PROTOCOL_ERROR: 1 } as const;

export interface SpdySessionLimits {
  headerBlockBytes: number;
  headerValues: number;
  controlFrameBytes: number;
  concurrentStreams: number;
  dataPiece: number;
  sendBacklogBytes: number;
}

const DEFAULT_LIMITS: SpdySessionLimits = {
  headerBlockBytes: StreamingLimits.spdyHeaderBlockBytes,
  headerValues: StreamingLimits.spdyHeaderValues,
  controlFrameBytes: StreamingLimits.spdyControlFrameBytes,
  concurrentStreams: StreamingLimits.spdyConcurrentStreams,
  dataPiece: StreamingLimits.framePieceBytes,
  sendBacklogBytes: StreamingLimits.sendBacklogBytes,
};

/**
 * A SPDY/3.1 connection over an upgraded socket: frames in order, header blocks through the
 * connection's zlib contexts, streams as duplexes. Emits `stream` (peer-opened streams, already
 * answered with SYN_REPLY on the server side), `protocol-error` (why the session is ending on
 * the peer's account, just before `close`), `close`.
 *
 * What a peer can make it hold is bounded (see StreamingLimits): control frames and inflated
 * header blocks by size, header values by number, open streams by number (more are refused
 * with RST_STREAM REFUSED_STREAM), and DATA by pausing the socket while a stream's reader is
 * full. The socket is also paused while a header block inflates, and while the peer leaves more
 * than `sendBacklogBytes` of what it was sent unread. A header block past its limits ends the
 * session: RST_STREAM FRAME_TOO_LARGE for its stream, then GOAWAY PROTOCOL_ERROR.
 */
export class SpdySession extends EventEmitter {
  private readonly limits: SpdySessionLimits;
  private readonly parser: FrameParser;
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor: HeaderDecompressor;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly blocked = new Set<SpdyStream>();
  private queue: Frame[] = [];
  private queueHead = 0;
  private inflating = false;
  private backlogged = false;
  private drainWaiters: (() => void)[] = [];
  private nextStreamId: number;
  private lastPeerStreamId = 0;
  private closed = false;
  private goingAway = false;
  private frameSeenAt = Date.now();

  constructor(readonly socket: Socket, private readonly role: SpdyRole, head?: Buffer, limits: Partial<SpdySessionLimits> = {}) {
    super();
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.parser = new FrameParser({ maxControlPayload: this.limits.controlFrameBytes, dataPiece: this.limits.dataPiece });
    this.decompressor = new HeaderDecompressor({ maxBlockBytes: this.limits.headerBlockBytes, maxValues: this.limits.headerValues });
    this.nextStreamId = role === 'client' ? 1 : 2;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('drain', () => {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
      if (this.backlogged) {
        this.backlogged = false;
        this.updateFlow();
      }
    });
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    // HTTP servers keep sockets half-open; a peer that stopped sending has left the session.
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

  /** When the peer's last frame (a PING counts) arrived, in Date.now() terms. */
  get lastFrameAt(): number {
    return this.frameSeenAt;
  }

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (frames.length > 0) this.frameSeenAt = Date.now();
    if (this.queueHead === this.queue.length) {
      this.queue = frames;
      this.queueHead = 0;
    } else {
      for (const f of frames) this.queue.push(f);
    }
    this.drain();
    if (!this.backlogged && this.socket.writableLength > this.limits.sendBacklogBytes) {
      this.backlogged = true;
      this.updateFlow();
    }
  }

  /** Reads from the socket only while nothing stands in the way; the reasons are kept apart so that one ending does not lift another. */
  private updateFlow(): void {
    if (this.closed) return;
    if (this.blocked.size > 0 || this.inflating || this.backlogged) this.socket.pause();
    else this.socket.resume();
  }

  /** Handles queued frames in arrival order; a header block's inflate holds the frames behind it. */
  private drain(): void {
    if (this.inflating) return;
    while (this.queueHead < this.queue.length && !this.closed) {
      const frame = this.queue[this.queueHead++]!;
      if (frame.kind === 'syn_stream' || frame.kind === 'syn_reply' || frame.kind === 'headers') {
        this.inflating = true;
        this.updateFlow();
        this.decompressor.decompress(frame.headerBlock).then(
          (headers) => {
            this.inflating = false;
            this.onHeaders(frame, headers);
            this.updateFlow();
            this.drain();
          },
          (err: unknown) => {
            this.inflating = false;
            this.fail(err, frame.streamId);
          },
        );
        return;
      }
      this.onFrame(frame);
    }
    this.queue = [];
    this.queueHead = 0;
  }

  private onHeaders(frame: Extract<Frame, { headerBlock: Buffer }>, headers: SpdyHeaders): void {
    if (this.closed) return;
    if (frame.kind === 'syn_stream') {
      const peerParity = this.role === 'server' ? 1 : 0;
      if (this.goingAway || frame.streamId % 2 !== peerParity || this.streams.has(frame.streamId) || this.streams.size >= this.limits.concurrentStreams) {
        this.write(encodeFrame({ kind: 'rst_stream', streamId: frame.streamId, status: RstStatus.REFUSED_STREAM }));
        return;
      }
      this.lastPeerStreamId = Math.max(this.lastPeerStreamId, frame.streamId);
      const stream = new SpdyStream(this, frame.streamId, headers);
      this.streams.set(frame.streamId, stream);
      // The Kubernetes server side answers every stream at once; clients wait for it.
      this.write(encodeFrame({ kind: 'syn_reply', streamId: frame.streamId, flags: 0, headerBlock: this.compressor.compress(encodeHeaderBlock(new Map())) }));
      if (frame.flags & FLAG_FIN) stream.deliver(Buffer.alloc(0), true);
      this.emit('stream', stream);
    } else if (frame.kind === 'syn_reply') {
      const stream = this.streams.get(frame.streamId);
      stream?.emit('reply', headers);
      if (stream && frame.flags & FLAG_FIN) stream.deliver(Buffer.alloc(0), true);
    }
  }

  private onFrame(frame: Frame): void {
    switch (frame.kind) {
      case 'data': {
        const stream = this.streams.get(frame.streamId);
        if (stream) stream.deliver(frame.data, (frame.flags & FLAG_FIN) !== 0);
        break;
      }
      case 'rst_stream':
        this.streams.get(frame.streamId)?.reset();
        break;
      case 'ping':
        // Answer the peer's pings; this side sends none, so an echo of ours cannot arrive.
        if (frame.id % 2 === (this.role === 'server' ? 1 : 0)) this.write(encodeFrame(frame));
        break;
      case 'goaway':
        this.goingAway = true;
        this.emit('goaway');
        break;
      default:
        // SETTINGS and WINDOW_UPDATE carry flow-control numbers this session does not use.
        break;
    }
  }

  /** Opens a stream (the client side's half; the server only answers); resolves once the peer's SYN_REPLY arrived. */
  openStream(headers: SpdyHeaders, timeoutMs = 30_000): Promise<SpdyStream> {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = new SpdyStream(this, id, headers);
    this.streams.set(id, stream);
    this.write(encodeFrame({ kind: 'syn_stream', streamId: id, associatedId: 0, priority: 0, flags: 0, headerBlock: this.compressor.compress(encodeHeaderBlock(headers)) }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to stream ${id} within ${timeoutMs} ms`)), timeoutMs);
      stream.once('reply', () => {
        clearTimeout(timer);
        resolve(stream);
      });
      stream.once('close', () => {
        clearTimeout(timer);
        reject(new Error(`stream ${id} was reset before its reply`));
      });
    });
  }

  /** @internal */
  sendData(id: number, chunk: Buffer, fin: boolean, cb: (err?: Error | null) => void): void {
    if (this.closed) {
      cb(new Error('the SPDY connection is closed'));
      return;
    }
    let off = 0;
    do {
      const piece = chunk.subarray(off, off + DATA_CHUNK);
      off += piece.length;
      const last = off >= chunk.length;
      this.socket.cork();
      this.socket.write(dataFrameHeader(id, fin && last ? FLAG_FIN : 0, piece.length));
      if (piece.length > 0) this.socket.write(piece);
      this.socket.uncork();
    } while (off < chunk.length);
    if (this.socket.writableLength < SEND_BUFFER_LIMIT) cb();
    else this.drainWaiters.push(() => cb());
  }

  /** @internal a stream's reader is full: stop reading the socket until it asks for more. */
  block(stream: SpdyStream): void {
    this.blocked.add(stream);
    this.updateFlow();
  }

  /** @internal */
  unblock(stream: SpdyStream): void {
    if (this.blocked.delete(stream)) this.updateFlow();
  }

  /** @internal a stream is gone; tell the peer unless both halves had finished. */
  forget(stream: SpdyStream, sendReset: boolean): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    this.unblock(stream);
    if (sendReset && !this.closed) this.write(encodeFrame({ kind: 'rst_stream', streamId: stream.id, status: RstStatus.CANCEL }));
  }

  private write(frame: Buffer): void {
    if (!this.closed && this.socket.writable) this.socket.write(frame);
  }

  /** Says goodbye (GOAWAY) and closes the socket once what was written is flushed. */
  close(): void {
    if (this.closed) return;
    this.write(encodeFrame({ kind: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: GoawayStatus.OK }));
    endSocket(this.socket);
    this.teardown();
  }

  /**
   * Ends the session for input it cannot or will not take: RST_STREAM FRAME_TOO_LARGE for a
   * header block past the limits, then GOAWAY PROTOCOL_ERROR.
   */
  private fail(err: unknown, streamId?: number): void {
    if (this.closed) return;
    const limitStream = err instanceof SpdyLimitError ? (err.streamId ?? streamId) : undefined;
    if (limitStream !== undefined) this.write(encodeFrame({ kind: 'rst_stream', streamId: limitStream, status: RstStatus.FRAME_TOO_LARGE }));
    this.write(encodeFrame({ kind: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: GoawayStatus.PROTOCOL_ERROR }));
    endSocket(this.socket);
    this.emit('protocol-error', err);
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.decompressor.close();
    this.queue = [];
    this.queueHead = 0;
    for (const w of this.drainWaiters) w();
    this.drainWaiters = [];
    for (const stream of [...this.streams.values()]) stream.destroy();
    this.streams.clear();
    this.emit('close');
  }
}
