/**
 * The Stream* list RPCs answer what their List* twins answer, as a server stream of batches.
 * Every response message of those streams has its list as field 1, of the same type as the
 * List response's field 1, so one item's encoding in a List response is also its encoding in
 * a stream batch, and a batch is the concatenation of its items' encodings: batches are cut by
 * bytes without encoding anything twice.
 */
import { CancelledError, ResourceExhaustedError } from '../errors/index.js';
import type { CallContext } from './context.js';

/**
 * The most bytes one batch carries. Small enough that a node's worth of items streams as a
 * few messages held briefly, large enough that per-message costs vanish.
 */
export const STREAM_BATCH_BYTES = 1024 * 1024;

/** A batch's byte budget under the configured message limit (half of it, at most STREAM_BATCH_BYTES). */
export function batchBudget(maxMessageBytes: number): number {
  return Math.max(1, Math.min(STREAM_BATCH_BYTES, Math.floor(maxMessageBytes / 2)));
}

/**
 * Cuts encoded items into batches of at most `budget` bytes, in order. An item larger than the
 * budget travels alone; one larger than the message limit is an error, as it would be in List.
 */
export function* batchesOf(encoded: Iterable<Buffer>, budget: number, maxMessageBytes: number): Generator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for (const bytes of encoded) {
    if (bytes.length > maxMessageBytes) {
      throw new ResourceExhaustedError(`one listed item encodes to ${bytes.length} bytes, over max_message_bytes (${maxMessageBytes})`);
    }
    if (size > 0 && size + bytes.length > budget) {
      yield concat(parts, size);
      parts = [];
      size = 0;
    }
    parts.push(bytes);
    size += bytes.length;
  }
  if (size > 0) yield concat(parts, size);
}

function concat(parts: Buffer[], size: number): Buffer {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

/** Waits for the client to catch up, or for the call to end. */
export function whenDrained(drained: () => Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void drained().then(done);
  });
}

/**
 * Streams `items` in batches, encoding each item only when its batch is cut, and holding back
 * while the client does not read. The stream's serializer takes the batches as they are.
 */
export async function streamItems<T>(
  items: Iterable<T>,
  encodeItem: (item: T) => Buffer,
  ctx: CallContext,
  send: (message: never) => boolean,
  drained: () => Promise<void>,
): Promise<void> {
  const maxBytes = ctx.services.config.max_message_bytes;
  const encoded = (function* () {
    for (const item of items) yield encodeItem(item);
  })();
  for (const batch of batchesOf(encoded, batchBudget(maxBytes), maxBytes)) {
    if (ctx.signal.aborted) throw new CancelledError('the client cancelled the stream');
    if (!(send as (message: Buffer) => boolean)(batch)) await whenDrained(drained, ctx.signal);
  }
}

