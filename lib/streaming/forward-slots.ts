import { StreamingLimits } from './limits.js';

/** A slot to forward one connection, or why there is none. */
export type ForwardSlot = { release(): void } | { refused: string };

/**
 * Bounds forwarded connections: each runs an `nsenter`+`socat` of its own while it lasts, so
 * their number, on one streaming connection and on the node, is the number of processes a
 * client can make the daemon start. One instance per daemon; `forConnection` per client connection.
 */
export class ForwardSlots {
  private active = 0;

  constructor(readonly perConnection: number = StreamingLimits.forwardsPerConnection, readonly total: number = StreamingLimits.forwardsTotal) {}

  get inUse(): number {
    return this.active;
  }

  forConnection(): ConnectionForwards {
    return new ConnectionForwards(this);
  }

  /** @internal */
  takeNodeSlot(): boolean {
    if (this.active >= this.total) return false;
    this.active++;
    return true;
  }

  /** @internal */
  releaseNodeSlot(): void {
    this.active--;
  }
}

/** One streaming connection's share of the forwarding slots. */
export class ConnectionForwards {
  private active = 0;

  constructor(private readonly slots: ForwardSlots) {}

  get inUse(): number {
    return this.active;
  }

  take(): ForwardSlot {
    if (this.active >= this.slots.perConnection) {
      return { refused: `too many forwarded connections on this streaming connection (the limit is ${this.slots.perConnection})` };
    }
    if (!this.slots.takeNodeSlot()) {
      return { refused: `too many forwarded connections on the node (the limit is ${this.slots.total})` };
    }
    this.active++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.active--;
        this.slots.releaseNodeSlot();
      },
    };
  }
}
