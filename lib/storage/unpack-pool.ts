import { Worker } from 'node:worker_threads';
import { CancelledError, InternalError, messageOf } from '../errors/index.js';
import type { Compression } from './decompress.js';
import { fromWire, type FromWorker, type ToWorker } from './unpack-protocol.js';
import type { UnpackStats } from './unpack.js';

/** Compressed bytes sent to a worker and not yet taken in: the most a layer buffers. */
const IN_FLIGHT_BYTES = 4 * 1024 * 1024;
/** Small network chunks are sent together: one message per this many bytes at least. */
const BATCH_BYTES = 512 * 1024;
/** A worker that does not stop this long after being told to is terminated. */
const ABORT_GRACE_MS = 30_000;
const IDLE_MS = 60_000;
/** Beside this module: tsc's ES module in dist/lib, the CommonJS one beside the shipped bundle. */
const WORKER_URL = new URL(import.meta.url.endsWith('.cjs') ? './unpack-worker.cjs' : './unpack-worker.js', import.meta.url);

type Settled = { ok: true; stats: UnpackStats } | { ok: false; error: Error };

/** One worker thread and the job it runs; the pool hands it to one layer at a time. */
class UnpackWorker {
  private readonly worker = new Worker(WORKER_URL);
  private job = 0;
  private inFlight = 0;
  private wake: (() => void) | undefined;
  private settle: ((result: Settled) => void) | undefined;
  private settled: Settled | undefined;
  dead = false;
  idleTimer: NodeJS.Timeout | undefined;

  constructor() {
    this.worker.on('message', (message: FromWorker) => this.onMessage(message));
    this.worker.on('error', (err) => this.die(new InternalError(`layer unpack worker failed: ${err.message}`)));
    this.worker.on('exit', (code) => this.die(new InternalError(`layer unpack worker exited (${code})`)));
  }

  private post(message: ToWorker, transfer?: ArrayBuffer): void {
    if (!this.dead) this.worker.postMessage(message, transfer ? [transfer] : undefined);
  }

  private onMessage(message: FromWorker): void {
    if (message.job !== this.job) return;
    if (message.op === 'ack') {
      this.inFlight -= message.bytes;
      this.wake?.();
      return;
    }
    this.finish(message.op === 'done' ? { ok: true, stats: message.stats } : { ok: false, error: fromWire(message.error) });
  }

  private finish(result: Settled): void {
    if (this.settled) return;
    this.settled = result;
    this.settle?.(result);
    this.wake?.();
  }

  private die(error: Error): void {
    this.dead = true;
    this.finish({ ok: false, error });
  }

  /** Ends the thread; an unpack it was running settles as failed once it has stopped. */
  async terminate(): Promise<void> {
    this.dead = true;
    await this.worker.terminate();
  }

  ref(busy: boolean): void {
    if (busy) this.worker.ref();
    else this.worker.unref();
  }

  /**
   * Streams `source` (compressed layer bytes) to the worker, which unpacks them into `dir`.
   * Settles only when the worker has stopped writing, whatever happened: a source error is
   * reported as itself, after the worker has been told to stop and has answered.
   */
  async run(source: AsyncIterable<Buffer>, dir: string, compression: Compression, signal: AbortSignal): Promise<UnpackStats> {
    const job = ++this.job;
    this.inFlight = 0;
    this.settled = undefined;
    const done = new Promise<Settled>((resolve) => { this.settle = resolve; });
    if (this.dead) this.finish({ ok: false, error: new InternalError('layer unpack worker is gone') });
    this.post({ op: 'start', job, dir, compression });
    let sourceError: unknown;
    try {
      let batch: Buffer[] = [];
      let batched = 0;
      const flush = (): void => {
        if (batched === 0) return;
        // One copy into a buffer of our own (never Buffer's shared pool), then moved to the
        // worker: a message would copy a view's whole underlying buffer.
        const chunk = Buffer.allocUnsafeSlow(batched);
        let at = 0;
        for (const piece of batch) at += piece.copy(chunk, at);
        this.post({ op: 'data', job, chunk }, chunk.buffer as ArrayBuffer);
        this.inFlight += batched;
        batch = [];
        batched = 0;
      };
      for await (const chunk of source) {
        if (this.settled) break;
        if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new CancelledError('layer unpack cancelled');
        batch.push(chunk);
        batched += chunk.length;
        if (batched < BATCH_BYTES) continue;
        flush();
        while (this.inFlight > IN_FLIGHT_BYTES && !this.settled) await new Promise<void>((resolve) => { this.wake = resolve; });
        this.wake = undefined;
      }
      flush();
      this.post({ op: 'end', job });
    } catch (err) {
      sourceError = err;
      this.post({ op: 'abort', job });
      const grace = setTimeout(() => void this.terminate(), ABORT_GRACE_MS);
      await done;
      clearTimeout(grace);
    }
    const result = await done;
    if (sourceError !== undefined) throw sourceError;
    if (!result.ok) throw result.error;
    return result.stats;
  }
}

export interface UnpackLease {
  /** Unpacks one layer (its compressed bytes from `source`) into `dir`, on this lease's worker. */
  unpack(source: AsyncIterable<Buffer>, dir: string, compression: Compression, signal: AbortSignal): Promise<UnpackStats>;
  release(): void;
}

/**
 * Worker threads that unpack layers, at most `size` at once. A layer's decompression, tar
 * parsing, hashing and file writes run off the daemon's thread, and layers (each into its own
 * directory) are unpacked in parallel up to the number of workers. Workers start on demand
 * and end after a while idle.
 */
export class UnpackPool {
  private readonly idle: UnpackWorker[] = [];
  private readonly waiters: { resolve: (w: UnpackWorker) => void; reject: (err: unknown) => void; signal: AbortSignal; onAbort: () => void }[] = [];
  private running = 0;
  private closed = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new InternalError(`unpack pool size must be a positive integer, not ${size}`);
  }

  /** Waits for a free worker: acquire it before starting a download it would otherwise stall. */
  async acquire(signal: AbortSignal): Promise<UnpackLease> {
    const worker = await this.take(signal);
    let released = false;
    return {
      unpack: (source, dir, compression, jobSignal) => worker.run(source, dir, compression, jobSignal),
      release: () => {
        if (released) return;
        released = true;
        this.give(worker);
      },
    };
  }

  private take(signal: AbortSignal): Promise<UnpackWorker> {
    if (this.closed) return Promise.reject(new CancelledError('layer unpacking has stopped'));
    if (signal.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new CancelledError('cancelled'));
    for (let ready = this.idle.pop(); ready; ready = this.idle.pop()) {
      if (!ready.dead) return Promise.resolve(this.busy(ready));
      clearTimeout(ready.idleTimer);
      this.running--;
    }
    if (this.running < this.size) {
      this.running++;
      try {
        return Promise.resolve(this.busy(new UnpackWorker()));
      } catch (err) {
        this.running--;
        return Promise.reject(new InternalError(`cannot start a layer unpack worker: ${messageOf(err)}`));
      }
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve, reject, signal,
        onAbort: () => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(signal.reason instanceof Error ? signal.reason : new CancelledError('cancelled'));
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private busy(worker: UnpackWorker): UnpackWorker {
    clearTimeout(worker.idleTimer);
    worker.ref(true);
    return worker;
  }

  private give(worker: UnpackWorker): void {
    if (worker.dead || this.closed) {
      this.running--;
      void worker.terminate();
      // A slot is free: a waiter gets a fresh worker.
      const waiter = this.waiters.shift();
      if (waiter) {
        waiter.signal.removeEventListener('abort', waiter.onAbort);
        this.take(waiter.signal).then(waiter.resolve, waiter.reject);
      }
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.resolve(worker);
      return;
    }
    worker.ref(false);
    worker.idleTimer = setTimeout(() => {
      const at = this.idle.indexOf(worker);
      if (at < 0) return;
      this.idle.splice(at, 1);
      this.running--;
      void worker.terminate();
    }, IDLE_MS);
    worker.idleTimer.unref();
    this.idle.push(worker);
  }

  /** Ends idle workers and refuses new leases; leases in use end their worker on release. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.reject(new CancelledError('layer unpacking has stopped'));
    }
    const idle = this.idle.splice(0);
    this.running -= idle.length;
    await Promise.all(idle.map((w) => { clearTimeout(w.idleTimer); return w.terminate(); }));
  }
}
