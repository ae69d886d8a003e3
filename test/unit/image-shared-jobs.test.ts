import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore, SharedJobs } from '../../lib/image/shared-jobs.js';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

describe('shared jobs and the download semaphore', () => {
  it('runs a job once for concurrent callers', async () => {
    const jobs = new SharedJobs<number>();
    let starts = 0;
    const gate = deferred<number>();
    const start = async (): Promise<number> => { starts++; return gate.promise; };
    const a = jobs.run('k', start, new AbortController().signal);
    const b = jobs.run('k', start, new AbortController().signal);
    gate.resolve(7);
    assert.deepEqual(await Promise.all([a, b]), [7, 7]);
    assert.equal(starts, 1);
    assert.equal(jobs.size, 0);
  });

  it('aborts the job only when its last waiter leaves', async () => {
    const jobs = new SharedJobs<string>();
    let jobSignal: AbortSignal | undefined;
    const start = (signal: AbortSignal): Promise<string> => {
      jobSignal = signal;
      return new Promise((resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    };
    const c1 = new AbortController();
    const c2 = new AbortController();
    const a = jobs.run('k', start, c1.signal);
    const b = jobs.run('k', start, c2.signal);
    await new Promise((r) => setImmediate(r));
    c1.abort(new Error('first left'));
    await assert.rejects(a, /first left/);
    assert.equal(jobSignal!.aborted, false);
    c2.abort(new Error('second left'));
    await assert.rejects(b, /second left/);
    assert.equal(jobSignal!.aborted, true);
    // A newcomer starts afresh rather than joining the dying job.
    const c3 = new AbortController();
    const fresh = jobs.run('k', async () => 'new', c3.signal);
    assert.equal(await fresh, 'new');
  });

  it('limits concurrency and lets queued waiters leave', async () => {
    const sem = new Semaphore(1);
    const release = await sem.acquire(new AbortController().signal);
    const leaving = new AbortController();
    const queued = sem.acquire(leaving.signal);
    const waiting = sem.acquire(new AbortController().signal);
    leaving.abort(new Error('gone'));
    await assert.rejects(queued, /gone/);
    release();
    const second = await waiting;
    second();
    const third = await sem.acquire(new AbortController().signal);
    third();
  });
});
