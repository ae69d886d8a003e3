const NEVER = new AbortController().signal;

/** A counting semaphore: `acquire` resolves with the function that gives the slot back; a waiter leaves the queue when its signal aborts. */
export class Semaphore {
  private active = 0;
  private readonly queue: { grant: () => void; signal: AbortSignal }[] = [];

  constructor(private readonly limit: number) {}

  async acquire(signal: AbortSignal = NEVER): Promise<() => void> {
    if (signal.aborted) throw signal.reason;
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        signal,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next.grant();
      else this.active--;
    };
  }
}
