import { write, writeSync } from 'node:fs';

/** Log text waiting for a slow reader beyond this is dropped (and counted), not held in memory. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** How long a write that found the pipe full (EAGAIN) waits before it tries again. */
const FULL_PIPE_RETRY_MS = 10;
/** At exit, a full pipe gets this many more tries, FULL_PIPE_RETRY_MS apart. */
const EXIT_FULL_PIPE_TRIES = 50;

/**
 * Where the daemon's log lines go: file descriptor 2, written without blocking the event loop,
 * in order, with the lines logged while a write is under way sent together in the next one.
 *
 * A log reader that goes away (EPIPE) or a closed descriptor ends the logging, not the daemon:
 * from then on lines are dropped. At exit, what is still queued is written synchronously,
 * once, giving up at the first error; a daemon must never hang on its way out, or stop
 * answering, because nobody reads its log.
 */
export class StderrSink {
  private queued: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  private closed = false;
  private dropped = 0;

  constructor(private readonly fd = 2) {
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
    write(this.fd, data, offset, data.length - offset, null, (err, written) => {
      if (err) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeFrom(data, offset), FULL_PIPE_RETRY_MS).unref();
          return;
        }
        this.close();
        return;
      }
      if (offset + written < data.length) {
        this.writeFrom(data, offset + written);
        return;
      }
      this.writing = false;
      if (this.queued.length > 0) this.writeQueued();
    });
  }

  /** What is queued (not the write under way, which the kernel has or will have), written now. */
  flushSync(): void {
    if (this.closed || this.queued.length === 0) return;
    const data = this.takeQueued();
    let offset = 0;
    let fullPipeTries = 0;
    while (offset < data.length) {
      try {
        offset += writeSync(this.fd, data, offset, data.length - offset);
      } catch (err) {
        // A full pipe gets a few more tries; anything else (EPIPE, EBADF) ends the logging.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && fullPipeTries++ < EXIT_FULL_PIPE_TRIES) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, FULL_PIPE_RETRY_MS);
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
    this.queued = [];
    this.queuedBytes = 0;
  }
}
