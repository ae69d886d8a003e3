import { write, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { installedFsCalls, type FsCalls } from '../util/fs-calls.js';

/** Log text waiting for a slow reader beyond this is dropped (and counted), not held in memory. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** How long a write that found the pipe full (EAGAIN) waits before it tries again. */
const FULL_PIPE_RETRY_MS = 10;
/** At exit, a full pipe gets this many more tries, FULL_PIPE_RETRY_MS apart. */
const EXIT_FULL_PIPE_TRIES = 50;
/** At exit, how long the write under way gets to finish (a reader that stopped reading holds it). */
const EXIT_WAIT_FOR_WRITE_MS = FULL_PIPE_RETRY_MS * EXIT_FULL_PIPE_TRIES;

/**
 * The text being written, from `offset`: its write through the addon under way (state[0] 0),
 * or done and waiting to be tried again (a full pipe).
 */
interface Unfinished {
  data: Buffer;
  offset: number;
  /** [0]: 1 once the write is done; [1]: the bytes written, or -errno. */
  state: Int32Array;
}

function errnoOf(err: NodeJS.ErrnoException): number {
  return (osConstants.errno as Record<string, number>)[err.code ?? ''] ?? -1;
}

/** Sleeps the thread: in an exit handler nothing else can run anyway. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Where the daemon's log lines go: file descriptor 2, written without blocking the event loop,
 * in order, with the lines logged while a write is under way sent together in the next one.
 *
 * A log reader that goes away (EPIPE) or a closed descriptor ends the logging, not the daemon:
 * from then on lines are dropped. At exit, the write under way is let finish (it runs on the
 * thread pool and may not have reached the kernel yet); then the rest of its text (a full pipe
 * may have taken part of it, or none yet) and what is still queued are written synchronously,
 * once, giving up at the first error: a daemon must never hang on its way out, or stop
 * answering, because nobody reads its log. Only the fs-calls addon's writes can be seen to
 * finish from an exit handler. Without the addon, once the descriptor has answered EAGAIN
 * (so it is non-blocking), the sink writes to it synchronously; before that, a write under
 * way at exit may be lost.
 */
export class StderrSink {
  private queued: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  private unfinished: Unfinished | undefined;
  private closed = false;
  private dropped = 0;
  private readonly calls: FsCalls | undefined;
  /** Without the addon: the descriptor answered EAGAIN, so a write to it cannot wait for its reader. */
  private writesInPlace = false;

  /** `calls` null: writes through fs.write, whatever is installed (the tests of that path use it). */
  constructor(private readonly fd = 2, calls?: FsCalls | null) {
    this.calls = calls === null ? undefined : (calls ?? installedFsCalls());
    process.on('exit', () => this.flushSync());
  }

  /** pino's destination interface. */
  write(line: string): boolean {
    if (this.closed) return true;
    if (this.queuedBytes + line.length > MAX_QUEUED_BYTES) {
      this.dropped++;
      return true;
    }
    this.queued.push(line);
    this.queuedBytes += line.length;
    if (!this.writing) this.writeQueued();
    return true;
  }

  private takeQueued(): Buffer {
    let text = this.queued.join('');
    if (this.dropped > 0) {
      text += `${JSON.stringify({ level: 40, time: Date.now(), name: 'runcri', dropped: this.dropped, msg: 'log lines dropped: the log reader was too slow' })}\n`;
      this.dropped = 0;
    }
    this.queued = [];
    this.queuedBytes = 0;
    return Buffer.from(text);
  }

  private writeQueued(): void {
    this.writing = true;
    this.writeFrom(this.takeQueued(), 0);
  }

  private writeFrom(data: Buffer, offset: number): void {
    const calls = this.calls;
    if (calls) {
      const underWay = { data, offset, state: new Int32Array(2) };
      this.unfinished = underWay;
      calls.writeOnce(this.fd, data.subarray(offset), underWay.state).then(() => {
        if (this.unfinished !== underWay) return;
        this.unfinished = undefined;
        const result = underWay.state[1]!;
        this.written(data, offset, result < 0 ? -result : 0, Math.max(result, 0));
      }, () => this.close());
      return;
    }
    this.unfinished = undefined;
    if (this.writesInPlace) {
      // Here nothing is ever under way: an exit knows exactly what is left.
      let written = 0;
      let errno = 0;
      try {
        written = writeSync(this.fd, data, offset, data.length - offset);
      } catch (err) {
        errno = errnoOf(err as NodeJS.ErrnoException);
      }
      this.written(data, offset, errno, written);
      return;
    }
    // An fs.write under way cannot be seen from an exit handler: nothing is known unfinished.
    write(this.fd, data, offset, data.length - offset, null, (err, written) => {
      this.written(data, offset, err ? errnoOf(err) : 0, written);
    });
  }

  /** After a write of data from offset: `errno` 0 when it wrote `written` bytes. */
  private written(data: Buffer, offset: number, errno: number, written: number): void {
    if (this.closed) return;
    if (errno === osConstants.errno.EAGAIN) {
      if (!this.calls) this.writesInPlace = true;
      // Nothing of it is under way until the retry: an exit meanwhile writes it itself.
      this.unfinished = { data, offset, state: Int32Array.of(1, 0) };
      setTimeout(() => this.writeFrom(data, offset), FULL_PIPE_RETRY_MS).unref();
      return;
    }
    if (errno !== 0) {
      this.close();
      return;
    }
    if (offset + written < data.length) {
      this.writeFrom(data, offset + written);
      return;
    }
    this.writing = false;
    if (this.queued.length > 0) this.writeQueued();
  }

  /** The write under way let finish, then the rest of its text and what is queued, written now. */
  flushSync(): void {
    if (this.closed) return;
    const parts: Buffer[] = [];
    const unfinished = this.unfinished;
    if (unfinished) {
      this.unfinished = undefined;
      let waited = 0;
      while (Atomics.load(unfinished.state, 0) === 0 && waited < EXIT_WAIT_FOR_WRITE_MS) {
        pause(1);
        waited++;
      }
      const result = unfinished.state[1]!;
      // Still blocked in the kernel (a reader that stopped reading), or failed: the log ends here.
      if (Atomics.load(unfinished.state, 0) === 0 || (result < 0 && -result !== osConstants.errno.EAGAIN)) {
        this.close();
        return;
      }
      const done = unfinished.offset + Math.max(result, 0);
      if (done < unfinished.data.length) parts.push(unfinished.data.subarray(done));
    }
    if (this.queued.length > 0 || this.dropped > 0) parts.push(this.takeQueued());
    if (parts.length === 0) return;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    let offset = 0;
    let fullPipeTries = 0;
    while (offset < data.length) {
      try {
        offset += writeSync(this.fd, data, offset, data.length - offset);
      } catch (err) {
        // A full pipe gets a few more tries; anything else (EPIPE, EBADF) ends the logging.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && fullPipeTries++ < EXIT_FULL_PIPE_TRIES) {
          pause(FULL_PIPE_RETRY_MS);
          continue;
        }
        this.close();
        return;
      }
    }
  }

  private close(): void {
    this.closed = true;
    this.writing = false;
    this.unfinished = undefined;
    this.queued = [];
    this.queuedBytes = 0;
  }
}
