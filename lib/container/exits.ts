import type { OciRuntime } from '../oci/index.js';
import { nanosToWire, nowNanos } from '../util/time.js';
import type { PublishEvent } from './events.js';
import type { ContainerRecord } from './record.js';
import type { ContainerStore } from './store.js';

export interface ContainerExitsDeps {
  store: ContainerStore;
  runtimeOf: (c: ContainerRecord) => OciRuntime;
  publish: PublishEvent;
  metrics?: { containerOomKilled(): void };
}

/** A slow poll behind the exit watcher, which can miss an event. */
const EXIT_POLL_MS = 250;

/**
 * How containers ended: records brought in line with what their runtime recorded, and the
 * waits of stops for an exit. A record turns EXITED once, in one synchronous step, so its
 * STOPPED event goes out once however many readers notice the exit at the same moment.
 */
export class ContainerExits {
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Containers whose start is under way: an exit seen meanwhile waits until the start is recorded. */
  private readonly starting = new Set<string>();

  constructor(private readonly deps: ContainerExitsDeps) {}

  /**
   * Brings a record in line with its runtime: its exit record and, when `deep`, its monitor
   * gone without one. Reads do the cheap check (one stat); recovery and waits do both.
   */
  reconcile(c: ContainerRecord, deep = false): void {
    if (c.state !== 'CONTAINER_RUNNING' && c.state !== 'CONTAINER_CREATED') return;
    // Created from a checkpoint, not yet restored: its runtime has nothing to say of it.
    if (this.starting.has(c.id) || c.restorePending) return;
    const status = this.deps.runtimeOf(c).exitStatus(c.id, deep);
    if (status.state === 'running') return;
    c.state = 'CONTAINER_EXITED';
    if (status.state === 'exited') {
      c.exitCode = status.exitCode;
      // A container that exits at once may do so before `start` returned to us: never report
      // it finished before it started.
      const startedAt = BigInt(c.startedAt || '0');
      c.finishedAt = (status.exitedAt > startedAt ? status.exitedAt : startedAt).toString();
      c.reason = status.oomKilled ? 'OOMKilled' : c.exitCode === 0 ? 'Completed' : 'Error';
      c.message = status.oomKilled ? 'the container was killed by the OOM killer' : '';
      if (status.oomKilled) this.deps.metrics?.containerOomKilled();
    } else {
      c.exitCode = 255;
      c.finishedAt = nanosToWire(nowNanos());
      c.reason = 'Error';
      c.message = 'the container monitor exited without recording an exit code';
    }
    this.deps.store.persist(c);
    this.deps.publish('CONTAINER_STOPPED_EVENT', c, BigInt(c.finishedAt));
    this.wake(c.id);
  }

  /** The exit watcher saw a container's exit record appear. */
  noteExit(id: string): void {
    if (!this.deps.store.has(id)) return;
    this.reconcile(this.deps.store.get(id));
  }

  /** Runs a start, holding back exits noticed meanwhile until it is recorded; then looks once. */
  async starts<T>(c: ContainerRecord, start: () => Promise<T>): Promise<T> {
    this.starting.add(c.id);
    try {
      return await start();
    } finally {
      this.starting.delete(c.id);
    }
  }

  private wake(id: string): void {
    const waiters = this.waiters.get(id);
    if (!waiters) return;
    this.waiters.delete(id);
    for (const w of waiters) w();
  }

  /** Resolves when the container has exited or `ms` passed; true if it exited. */
  wait(c: ContainerRecord, ms: number): Promise<boolean> {
    this.reconcile(c);
    if (c.state === 'CONTAINER_EXITED') return Promise.resolve(true);
    return new Promise((resolve) => {
      const set = this.waiters.get(c.id) ?? new Set();
      this.waiters.set(c.id, set);
      const done = (exited: boolean) => {
        clearTimeout(timer);
        clearInterval(poll);
        set.delete(onExit);
        if (set.size === 0 && this.waiters.get(c.id) === set) this.waiters.delete(c.id);
        resolve(exited);
      };
      const onExit = () => done(true);
      const timer = setTimeout(() => {
        this.reconcile(c);
        done(c.state === 'CONTAINER_EXITED');
      }, ms);
      const poll = setInterval(() => this.reconcile(c, true), EXIT_POLL_MS);
      set.add(onExit);
    });
  }
}
