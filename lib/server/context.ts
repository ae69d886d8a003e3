import type { Logger } from '../log/index.js';
import type { Services } from '../daemon/services.js';

/** What a handler gets besides its request. */
export interface CallContext {
  services: Services;
  /** Aborted when the client cancels the call or its deadline passes. */
  signal: AbortSignal;
  /** The request's logger, already carrying the RPC name and any pod/container ID. */
  log: Logger;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res> | Res;

/**
 * A server-streaming handler writes with `send` until it returns or the signal aborts. `send`
 * returns false when the client is not reading; `drained` resolves once it has caught up.
 */
export type StreamHandler<Req, Res> = (request: Req, ctx: CallContext, send: (message: Res) => boolean, drained: () => Promise<void>) => Promise<void>;
