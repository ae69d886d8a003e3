import { closeSync, openSync, writeSync, constants as fsConstants } from 'node:fs';
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import { InternalError, messageOf } from '../errors/index.js';
import type { TerminalSize } from './exec.js';

/**
 * One client's connection to a container's stdio. Emits `stdout` and `stderr` (Buffers) and
 * `close` once the container's output ends or the connection breaks.
 */
export interface Attachment extends EventEmitter {
  /** Resolves once the data is with the kernel, which is this side's backpressure. */
  writeStdin(data: Buffer): Promise<void>;
  /** The client's stdin ended (the monitor closes the container's only when it is stdin_once). */
  closeStdin(): void;
  resize(size: TerminalSize): void;
  close(): void;
}

/** Where a container's monitor listens. */
interface AttachTarget {
  id: string;
  /** conmon's SOCK_SEQPACKET attach socket. */
  attachSocket: string;
  /** conmon's control FIFO (resize, log reopen). */
  controlFifo: string;
}

interface SeqpacketSocketLike extends EventEmitter {
  connect(path: string, cb?: () => void): void;
  write(buf: Buffer, offset?: number, length?: number, cb?: () => void): void;
  end(cb?: () => void): void;
  destroy(): void;
}

/*
 * conmon's attach socket is SOCK_SEQPACKET, which Node's `net` cannot open. node-unix-socket
 * (N-API, a prebuilt binary shipped in its npm package, so no toolchain at install) can; a
 * socat bridge cannot keep packet boundaries, and every packet from conmon starts with a byte
 * telling stdout from stderr.
 */
const require = createRequire(import.meta.url);
type SeqpacketSocketClass = new () => SeqpacketSocketLike;
let seqpacketSocket: SeqpacketSocketClass | undefined;

/** Loaded on the first attach: the native module is not needed by a daemon nobody attaches to. */
function SeqpacketSocket(): SeqpacketSocketClass {
  seqpacketSocket ??= (require('node-unix-socket') as { SeqpacketSocket: SeqpacketSocketClass }).SeqpacketSocket;
  return seqpacketSocket;
}

/** conmon's pipe numbers at the start of each packet (conmon.h). */
const PIPE_STDOUT = 2;
const PIPE_STDERR = 3;
/** conmon reads the attach socket in buffers of this size; a longer packet would be truncated. */
const STDIN_PACKET = 8192;
/** conmon's control FIFO message types. */
export const CTL_RESIZE = 1;
export const CTL_REOPEN_LOGS = 2;

/**
 * One attach client of a container's conmon. Emits `stdout` and `stderr` (Buffers) and `close`;
 * several may be attached at once, and conmon copies the output to each.
 */
export class ConmonAttachment extends EventEmitter implements Attachment {
  private readonly socket: SeqpacketSocketLike;
  private closed = false;

  private constructor(private readonly target: AttachTarget) {
    super();
    this.socket = new (SeqpacketSocket())();
  }

  static connect(target: AttachTarget): Promise<ConmonAttachment> {
    const a = new ConmonAttachment(target);
    return new Promise((resolve, reject) => {
      a.socket.on('error', (err: Error) => {
        if (!a.closed) reject(new InternalError(`attaching to container ${target.id}: ${messageOf(err)}`));
        a.finish();
      });
      a.socket.on('close', () => a.finish());
      a.socket.on('end', () => a.finish());
      a.socket.on('data', (packet: Buffer) => {
        if (packet.length < 1) return;
        if (packet[0] === PIPE_STDOUT) a.emit('stdout', packet.subarray(1));
        else if (packet[0] === PIPE_STDERR) a.emit('stderr', packet.subarray(1));
      });
      try {
        a.socket.connect(target.attachSocket, () => resolve(a));
      } catch (err) {
        reject(new InternalError(`attaching to container ${target.id}: ${messageOf(err)}`));
      }
    });
  }

  /** Resolves once the data is with the kernel, which is this side's backpressure. */
  writeStdin(data: Buffer): Promise<void> {
    if (this.closed) return Promise.resolve();
    const writes: Promise<void>[] = [];
    for (let off = 0; off < data.length; off += STDIN_PACKET) {
      const piece = data.subarray(off, off + STDIN_PACKET);
      writes.push(new Promise((resolve) => this.socket.write(piece, 0, piece.length, () => resolve())));
    }
    return Promise.all(writes).then(() => undefined);
  }

  /** Half-closes the socket: conmon then closes the container's stdin (unless told to leave it open). */
  closeStdin(): void {
    if (!this.closed) this.socket.end();
  }

  resize(size: TerminalSize): void {
    let fd: number;
    try {
      fd = openSync(this.target.controlFifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    } catch {
      return; // the monitor is gone; the session ends with it
    }
    try {
      writeSync(fd, `${CTL_RESIZE} ${size.height} ${size.width}\n`);
    } catch {
      // a full FIFO drops one resize; the next one carries the latest size anyway
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.destroy();
    } catch {
      // already closed by the peer
    }
    this.emit('close');
  }
}
