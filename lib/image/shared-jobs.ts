import { CancelledError } from '../errors/index.js';

interface Job<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/**
 * One run of a job per key however many callers want it (two pulls sharing a layer download
 * it once). Each caller may leave through its own signal; the job itself is aborted only
 * when no caller waits for it any more.
 */
export class SharedJobs<T> {
  private readonly jobs = new Map<string, Job<T>>();
  /** Jobs no caller waits for any more that have not ended yet, by key. */
  private readonly abandoned = new Map<string, Set<Promise<unknown>>>();

  run(key: string, start: (signal: AbortSignal) => Promise<T>, waiter: AbortSignal): Promise<T> {
    if (waiter.aborted) return Promise.reject(waiter.reason ?? new CancelledError('cancelled'));
    let job = this.jobs.get(key);
    if (!job) {
      const controller = new AbortController();
      const created: Job<T> = { controller, waiters: 0, promise: Promise.resolve().then(() => start(controller.signal)) };
      created.promise.catch(() => undefined).finally(() => {
        if (this.jobs.get(key) === created) this.jobs.delete(key);
      });
      this.jobs.set(key, created);
      job = created;
    }
    const current = job;
    current.waiters++;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const leave = (): void => {
        current.waiters--;
        if (current.waiters === 0 && this.jobs.get(key) === current) {
          // Forget it at once so a newcomer starts afresh instead of joining a dying job.
          this.jobs.delete(key);
          current.controller.abort(new CancelledError(`no pull waits for ${key} any more`));
          const ending = current.promise.catch(() => undefined);
          const set = this.abandoned.get(key) ?? new Set();
          set.add(ending);
          this.abandoned.set(key, set);
          void ending.finally(() => {
            set.delete(ending);
            if (set.size === 0 && this.abandoned.get(key) === set) this.abandoned.delete(key);
          });
        }
      };
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        leave();
        reject(waiter.reason ?? new CancelledError('cancelled'));
      };
      waiter.addEventListener('abort', onAbort, { once: true });
      current.promise.then(
        (value) => {
          if (settled) return;
          settled = true;
          waiter.removeEventListener('abort', onAbort);
          current.waiters--;
          resolve(value);
        },
        (err: unknown) => {
          if (settled) return;
          settled = true;
          waiter.removeEventListener('abort', onAbort);
          current.waiters--;
          reject(err);
        },
      );
    });
  }

  /**
   * Resolves once every abandoned job of these keys has ended. An aborted job may still
   * finish what it was doing (a layer renamed into place just before the abort): whoever
   * collects what a failed pull left waits for this first, or collects too early.
   */
  async abandonedEnded(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.flatMap((k) => [...(this.abandoned.get(k) ?? [])]));
  }

  get size(): number {
    return this.jobs.size;
  }
}

export { Semaphore } from '../util/semaphore.js';
