import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log/index.js';
import { endAndFlush } from './command-streams.js';
import type { ConnectionForwards } from './forward-slots.js';
import { connectToPodPort, type PodConnection, type PodNetwork } from './port-connect.js';

/** One forwarded connection as the wire gives it: the client's bytes, where replies go, where errors go. */
export interface ForwardChannels {
  fromClient: Readable;
  toClient: Writable;
  errors: Writable;
}

/**
 * Copies one client connection to localhost:PORT in the pod and back. A port nobody listens on,
 * or no forwarding slot left (see ForwardSlots), becomes a message on this request's error
 * stream and the end of its data stream; other requests of the connection go on. Resolves when
 * both directions are done or the client dropped the streams.
 */
export async function forwardConnection(network: PodNetwork, podId: string, port: number, ch: ForwardChannels, slots: ConnectionForwards, log: Logger): Promise<void> {
  const slot = slots.take();
  if ('refused' in slot) {
    log.warn({ port, reason: slot.refused }, 'port-forward refused');
    await refuse(port, podId, slot.refused, ch);
    return;
  }
  try {
    await forwardInSlot(network, podId, port, ch, log);
  } finally {
    slot.release();
  }
}

async function refuse(port: number, podId: string, reason: string, ch: ForwardChannels): Promise<void> {
  if (!ch.errors.destroyed) ch.errors.write(`error forwarding port ${port} to pod ${podId}: ${reason}`);
  await endAndFlush(ch.errors);
  await endAndFlush(ch.toClient);
  ch.fromClient.resume();
}

async function forwardInSlot(network: PodNetwork, podId: string, port: number, ch: ForwardChannels, log: Logger): Promise<void> {
  let conn: PodConnection;
  try {
    conn = await connectToPodPort(network, port);
  } catch (err) {
    log.debug({ port, err: (err as Error).message }, 'port-forward connect failed');
    await refuse(port, podId, (err as Error).message, ch);
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
