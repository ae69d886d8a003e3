import type { Logger } from '../log/index.js';
import type { ForwardSlots } from './forward-slots.js';
import { StreamType } from './protocol.js';
import { forwardConnection } from './port-forward.js';
import type { PodNetwork } from './port-connect.js';
import type { SpdySession, SpdyStream } from './spdy/index.js';

interface Pending {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export interface SpdyPortForwardOptions {
  network: PodNetwork;
  podId: string;
  /** How long the second stream of a request may keep the first waiting, and how long an idle connection is kept (see below). */
  streamCreationTimeoutMs: number;
  slots: ForwardSlots;
  log: Logger;
}

/**
 * `portforward.k8s.io` over SPDY: the client opens an error and a data stream per request,
 * tied by the `requestID` header (older clients: the data stream's ID is the error stream's
 * plus two), each naming its `port`. Requests are independent and may overlap; how many run at
 * once is bounded by `slots`.
 *
 * A connection with no request in progress whose client has sent nothing (not even a PING) for
 * the stream creation timeout is closed with GOAWAY. kubectl pings every 5 seconds, so only a
 * client that has gone quiet is affected; without this, a connection that never opens a stream
 * would only end with the 4-hour idle timeout.
 */
export function servePortForward(session: SpdySession, o: SpdyPortForwardOptions): void {
  const pending = new Map<string, Pending>();
  const forwards = o.slots.forConnection();
  let running = 0;

  const watchIdle = (): NodeJS.Timeout =>
    setTimeout(() => {
      const quietFor = Date.now() - session.lastFrameAt;
      if (pending.size > 0 || running > 0 || quietFor < o.streamCreationTimeoutMs) {
        idleTimer = watchIdle();
        return;
      }
      o.log.debug({ quietMs: quietFor }, 'closing an idle port-forward connection');
      session.close();
    }, Math.max(1, o.streamCreationTimeoutMs - (Date.now() - session.lastFrameAt)));
  let idleTimer = watchIdle();

  session.on('stream', (stream: SpdyStream) => {
    const type = stream.header('streamtype');
    const port = Number(stream.header('port'));
    if ((type !== StreamType.DATA && type !== StreamType.ERROR) || !Number.isInteger(port) || port < 1 || port > 65535) {
      stream.destroy();
      return;
    }
    const requestId = stream.header('requestid') ?? String(type === StreamType.ERROR ? stream.id : stream.id - 2);
    let entry = pending.get(requestId);
    if (!entry) {
      entry = {
        timer: setTimeout(() => {
          pending.delete(requestId);
          entry?.data?.destroy();
          entry?.error?.destroy();
        }, o.streamCreationTimeoutMs),
      };
      pending.set(requestId, entry);
    }
    // A second stream of the same kind for a request is the client's mistake: refuse it, not the first.
    if ((type === StreamType.DATA && entry.data) || (type === StreamType.ERROR && entry.error)) {
      stream.destroy();
      return;
    }
    if (type === StreamType.DATA) entry.data = stream;
    else entry.error = stream;
    if (entry.data && entry.error) {
      clearTimeout(entry.timer);
      pending.delete(requestId);
      const { data, error } = entry;
      error.resume();
      running++;
      const done = () => {
        running--;
      };
      void forwardConnection(o.network, o.podId, port, { fromClient: data, toClient: data, errors: error }, forwards, o.log).then(done, done);
    }
  });
  session.on('close', () => {
    clearTimeout(idleTimer);
    for (const entry of pending.values()) clearTimeout(entry.timer);
    pending.clear();
  });
}
