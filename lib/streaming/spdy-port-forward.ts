import type { Logger } from '../log/index.js';
import { StreamType } from './protocol.js';
import { forwardConnection } from './port-forward.js';
import type { PodNetwork } from './port-connect.js';
import type { SpdySession, SpdyStream } from './spdy/index.js';

interface Pending {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

/**
 * `portforward.k8s.io` over SPDY: the client opens an error and a data stream per request,
 * tied by the `requestID` header (older clients: the data stream's ID is the error stream's
 * plus two), each naming its `port`. Requests are independent and may overlap.
 */
export function servePortForward(session: SpdySession, network: PodNetwork, podId: string, pairTimeoutMs: number, log: Logger): void {
  const pending = new Map<string, Pending>();
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
        }, pairTimeoutMs),
      };
      pending.set(requestId, entry);
    }
    if (type === StreamType.DATA) entry.data = stream;
    else entry.error = stream;
    if (entry.data && entry.error) {
      clearTimeout(entry.timer);
      pending.delete(requestId);
      const { data, error } = entry;
      error.resume();
      void forwardConnection(network, podId, port, { fromClient: data, toClient: data, errors: error }, log);
    }
  });
  session.on('close', () => {
    for (const entry of pending.values()) clearTimeout(entry.timer);
    pending.clear();
  });
}
