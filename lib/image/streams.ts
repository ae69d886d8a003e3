import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DeadlineExceededError, FailedPreconditionError } from '../errors/index.js';

/** Content that does not match the digest it was asked for. Never retried, never stored. */
export class DigestMismatchError extends FailedPreconditionError {}

/**
 * Passes bytes through while hashing them; fails the stream at its end when the digest (or
 * the announced size) does not match, and as soon as more bytes than announced arrive.
 */
export class DigestVerifier extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private received = 0;
  verified = false;

  constructor(private readonly digest: string, private readonly expectedSize: number | undefined, private readonly what: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.received += chunk.length;
    if (this.expectedSize !== undefined && this.received > this.expectedSize) {
      done(new DigestMismatchError(`${this.what}: more than the ${this.expectedSize} bytes the manifest announced`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const actual = `sha256:${this.hash.digest('hex')}`;
    if (this.expectedSize !== undefined && this.received !== this.expectedSize) {
      done(new DigestMismatchError(`${this.what}: got ${this.received} bytes, the manifest announced ${this.expectedSize}`));
    } else if (actual !== this.digest) {
      done(new DigestMismatchError(`${this.what}: content digest ${actual} does not match ${this.digest}`));
    } else {
      this.verified = true;
      done();
    }
  }
}

/** Fails the stream when no byte arrives for `ms`, naming what stalled. */
export class StallWatchdog extends Transform {
  private timer: NodeJS.Timeout | undefined;
  bytes = 0;

  constructor(private readonly ms: number, private readonly what: string) {
    super();
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.destroy(new DeadlineExceededError(`${this.what}: stalled, no data received for ${Math.round(this.ms / 1000)} s (after ${this.bytes} bytes)`));
    }, this.ms);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.arm();
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    clearTimeout(this.timer);
    done();
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    done(err);
  }
}
