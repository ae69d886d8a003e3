import type { ContainerStatus } from '../generated/runtime/v1/ContainerStatus.js';
import type { PodSandboxStatus } from '../generated/runtime/v1/PodSandboxStatus.js';
import type { Logger } from '../log/index.js';

export type ContainerEventType =
  | 'CONTAINER_CREATED_EVENT'
  | 'CONTAINER_STARTED_EVENT'
  | 'CONTAINER_STOPPED_EVENT'
  | 'CONTAINER_DELETED_EVENT';

/** What the container service publishes at each lifecycle step. */
export interface ContainerEvent {
  type: ContainerEventType;
  containerId: string;
  podId: string;
  /** When it happened (for a stop: the exit time), nanoseconds since the epoch. */
  createdAt: bigint;
}

/** The pod's state at the moment of the event, as GetContainerEvents carries it. */
export interface EventSnapshot {
  podSandboxStatus?: PodSandboxStatus;
  containersStatuses: ContainerStatus[];
}

export interface DeliveredEvent extends ContainerEvent {
  snapshot?: EventSnapshot;
}

export type Snapshotter = (event: ContainerEvent) => EventSnapshot;

export interface EventBusOptions {
  /** Events each subscriber may have waiting; past it, that subscriber loses new events. */
  capacity: number;
  log: Logger;
  /** Called once per event a subscriber loses. */
  onDrop?: () => void;
}

/**
 * One subscriber's bounded queue. A subscriber that falls behind loses the newest events (it
 * keeps an ordered prefix; kubelet relists to catch up) rather than holding anyone up.
 */
export class EventSubscription {
  private readonly queue: DeliveredEvent[] = [];
  private waiter?: (event: DeliveredEvent | undefined) => void;
  private closed = false;
  dropped = 0;

  constructor(
    private readonly capacity: number,
    private readonly onClose: (sub: EventSubscription) => void,
    private readonly onDrop: (sub: EventSubscription) => void,
  ) {}

  /** @internal the bus's side: never blocks. */
  offer(event: DeliveredEvent): void {
    if (this.closed) return;
    if (this.waiter) {
      const wake = this.waiter;
      this.waiter = undefined;
      wake(event);
      return;
    }
    if (this.queue.length >= this.capacity) {
      this.dropped++;
      this.onDrop(this);
      return;
    }
    this.queue.push(event);
  }

  /** The next event, waiting for one; undefined once closed or `signal` aborts. */
  next(signal?: AbortSignal): Promise<DeliveredEvent | undefined> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed || signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.waiter = undefined;
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiter = (event) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(event);
      };
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    const wake = this.waiter;
    this.waiter = undefined;
    wake?.(undefined);
    this.onClose(this);
  }
}

/**
 * Container lifecycle events fanned out to any number of subscribers (GetContainerEvents
 * streams). `publish` is synchronous and never waits on a subscriber.
 */
export class ContainerEventBus {
  private readonly subscribers = new Set<EventSubscription>();
  private snapshotter?: Snapshotter;
  /** Drops since the last log line, per subscriber: logged once per burst, not once per event. */
  private readonly unloggedDrops = new Map<EventSubscription, number>();

  constructor(private readonly options: EventBusOptions) {}

  /** Sets how the pod's status is captured with each event (the server side knows how to build it). */
  setSnapshotter(snapshotter: Snapshotter): void {
    this.snapshotter = snapshotter;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  publish(event: ContainerEvent): void {
    if (this.subscribers.size === 0) return;
    let snapshot: EventSnapshot | undefined;
    try {
      snapshot = this.snapshotter?.(event);
    } catch (err) {
      this.options.log.warn({ container: event.containerId, err: err instanceof Error ? err.message : String(err) }, 'could not capture the pod status for a container event');
    }
    const delivered: DeliveredEvent = { ...event, snapshot };
    for (const sub of this.subscribers) sub.offer(delivered);
    this.flushDropLogs();
  }

  /** Ends every subscription (their streams finish); used at shutdown. */
  close(): void {
    for (const sub of [...this.subscribers]) sub.close();
  }

  subscribe(): EventSubscription {
    const sub = new EventSubscription(
      this.options.capacity,
      (s) => {
        this.subscribers.delete(s);
        this.unloggedDrops.delete(s);
      },
      (s) => {
        this.options.onDrop?.();
        this.unloggedDrops.set(s, (this.unloggedDrops.get(s) ?? 0) + 1);
      },
    );
    this.subscribers.add(sub);
    return sub;
  }

  private flushDropLogs(): void {
    for (const [sub, count] of this.unloggedDrops) {
      // first drop of a burst, then every 100th: enough to see it without flooding the log
      if (count === sub.dropped || count >= 100) {
        this.options.log.warn({ dropped: count, droppedTotal: sub.dropped, capacity: this.options.capacity }, 'a container event subscriber is not keeping up; events dropped');
        this.unloggedDrops.set(sub, 0);
      }
    }
  }
}
