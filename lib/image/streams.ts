import { createHash } from 'node:crypto';
import type { ReadableStream as WebReadableStream, ReadableStreamReadResult } from 'node:stream/web';
import { DeadlineExceededError, FailedPreconditionError } from '../errors/index.js';

/** Content that does not match the digest it was asked for. Never retried, never stored. */
export class DigestMismatchError extends FailedPreconditionError {}

/**
 * A blob's bytes as a response delivers them, checked on the way without a stream stage of
 * its own: more bytes than announced fail at once; at the end the size and the sha256 digest
 * must match, or the last read throws DigestMismatchError. When no byte arrives for `stallMs`,
 * `stop` is called (it aborts the request) and the read fails with DeadlineExceededError.
 */
export async function* verifiedBlob(
  body: WebReadableStream<Uint8Array>, expected: { digest: string; size: number }, what: string, stallMs: number, stop: (err: Error) => void,
): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let received = 0;
  let lastData = Date.now();
  let stalled: Error | undefined;
  const watchdog = setInterval(() => {
    if (stalled || Date.now() - lastData < stallMs) return;
    stalled = new DeadlineExceededError(`${what}: stalled, no data received for ${Math.round(stallMs / 1000)} s (after ${received} bytes)`);
    stop(stalled);
  }, Math.max(10, Math.min(1000, stallMs / 4)));
  const reader = body.getReader();
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw stalled ?? err;
      }
      if (stalled) throw stalled;
      if (chunk.done) break;
      const bytes = chunk.value;
      lastData = Date.now();
      received += bytes.byteLength;
      if (received > expected.size) throw new DigestMismatchError(`${what}: more than the ${expected.size} bytes the manifest announced`);
      hash.update(bytes);
      yield Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    if (received !== expected.size) throw new DigestMismatchError(`${what}: got ${received} bytes, the manifest announced ${expected.size}`);
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== expected.digest) throw new DigestMismatchError(`${what}: content digest ${actual} does not match ${expected.digest}`);
  } finally {
    clearInterval(watchdog);
    await reader.cancel().catch(() => undefined);
  }
}
