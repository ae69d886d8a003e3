import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** A closing connection's socket goes once nothing has moved on it for this long... */
const CLOSING_IDLE_MS = 10_000;
/** ...and in any case this long after the close began... */
const CLOSING_MAX_MS = 60_000;
/**
 * What the peer may still send that is read and dropped; past it the socket stops reading and is
 * left to the idle timer. (Not destroyed at once: closing with unread data sends a reset, and a
 * reset can cost the peer the close frame it has not read yet.)
 */
const CLOSING_READ_BYTES = 1024 * 1024;

const ending = new WeakSet<Socket | Duplex>();

/**
 * Ends an upgraded connection's socket after its last frames were written, and makes sure it
 * goes even when the peer neither reads them nor closes its half: an ended socket still counts
 * against the connection limit until it closes. What the peer still sends is read (its close,
 * its FIN) and dropped, up to CLOSING_READ_BYTES.
 */
export function endSocket(socket: Socket | Duplex): void {
  if (socket.destroyed || ending.has(socket)) return;
  ending.add(socket);
  let readAfter = 0;
  socket.on('data', (chunk: Buffer) => {
    readAfter += chunk.length;
    if (readAfter > CLOSING_READ_BYTES) socket.pause();
  });
  // Paused or not before (a full reader, a backlog), it now reads until the peer's end.
  socket.resume();
  socket.end();
  // A socket's own idle timer; a stream that only stands in for one (a tunnel) goes by the deadline alone.
  if ('setTimeout' in socket) socket.setTimeout(CLOSING_IDLE_MS, () => socket.destroy());
  const deadline = setTimeout(() => socket.destroy(), CLOSING_MAX_MS).unref();
  socket.once('close', () => clearTimeout(deadline));
}
