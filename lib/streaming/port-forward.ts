import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log/index.js';
import { endAndFlush } from './command-streams.js';
import { connectToPodPort, type PodConnection, type PodNetwork } from './port-connect.js';

/** One forwarded connection as the wire gives it: the client's bytes, where replies go, where errors go. */
export interface ForwardChannels {
  fromClient: Readable;
  toClient: Writable;
  errors: Writable;
}

/**
 * Copies one client connection to localhost:PORT in the pod and back. A port nobody listens on
 * becomes a message on this request's error stream; other requests of the connection go on.
 * Resolves when both directions are done or the client dropped the streams.
 */
export async function forwardConnection(network: PodNetwork, podId: string, port: number, ch: ForwardChannels, log: Logger): Promise<void> {
  let conn: PodConnection;
  try {
    conn = await connectToPodPort(network, port);
  } catch (err) {
    const message = `error forwarding port ${port} to pod ${podId}: ${(err as Error).message}`;
    log.debug({ port, err: (err as Error).message }, 'port-forward connect failed');
    if (!ch.errors.destroyed) ch.errors.write(message);
    await endAndFlush(ch.errors);
    await endAndFlush(ch.toClient);
    ch.fromClient.resume();
    return;
  }
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      conn.close();
      ch.fromClient.unpipe(conn.input);
      void endAndFlush(ch.errors).then(resolve);
    };
    ch.fromClient.pipe(conn.input);
    conn.output.pipe(ch.toClient);
    ch.toClient.once('finish', finish);
    ch.toClient.once('close', finish);
    ch.fromClient.once('close', () => {
      // the client reset the stream rather than finishing it
      if (!ch.fromClient.readableEnded) finish();
    });
  });
}
