/**
 * An unpack worker thread: takes a layer's compressed bytes from the daemon thread,
 * decompresses them (zlib in the thread pool, zstd in a child process), and unpacks the tar
 * stream with `unpackLayer`, hashing it on the way. One layer at a time.
 */
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { CancelledError } from '../errors/index.js';
import { decompressor, type Compression } from './decompress.js';
import { toWire, type FromWorker, type ToWorker } from './unpack-protocol.js';
import { unpackLayer, type UnpackStats } from './unpack.js';

interface Job {
  id: number;
  input: PassThrough;
  abort: AbortController;
  /** Compressed bytes taken in and not yet acknowledged. */
  taken: number;
}

/** Well under the daemon's in-flight limit (4 MiB), so it never waits on a step not sent. */
const ACK_BYTES = 1024 * 1024;

const port = parentPort;
if (!port) throw new Error('unpack-worker runs as a worker thread');

let current: Job | undefined;

function send(message: FromWorker): void {
  port!.postMessage(message);
}

async function unpack(job: Job, dir: string, compression: Compression): Promise<UnpackStats> {
  // Data that comes meanwhile waits in `input`, and is acknowledged once taken from there.
  const tarStream: Readable = pipeline(job.input, await decompressor(compression), () => undefined);
  try {
    return await unpackLayer(tarStream, dir, { signal: job.abort.signal });
  } finally {
    tarStream.destroy();
  }
}

function start(id: number, dir: string, compression: Compression): void {
  const input = new PassThrough({ highWaterMark: 256 * 1024 });
  const abort = new AbortController();
  const job: Job = { id, input, abort, taken: 0 };
  current = job;
  unpack(job, dir, compression).then(
    (stats) => send({ op: 'done', job: id, stats }),
    (err: unknown) => send({ op: 'failed', job: id, error: toWire(abort.signal.aborted ? new CancelledError('layer unpack cancelled') : err) }),
  ).finally(() => {
    input.destroy();
    if (current === job) current = undefined;
  });
}

port.on('message', (message: ToWorker) => {
  if (message.op === 'start') {
    start(message.job, message.dir, message.compression);
    return;
  }
  const job = current;
  if (!job || job.id !== message.job) return;
  switch (message.op) {
    case 'data': {
      const chunk = Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength);
      job.input.write(chunk, () => {
        // Acknowledged in steps: the daemon waits only while several steps are outstanding.
        job.taken += chunk.length;
        if (job.taken < ACK_BYTES) return;
        send({ op: 'ack', job: job.id, bytes: job.taken });
        job.taken = 0;
      });
      break;
    }
    case 'end':
      job.input.end();
      break;
    case 'abort':
      job.abort.abort();
      job.input.destroy(new CancelledError('layer unpack cancelled'));
      break;
  }
});
