import { TerminalSizes, endAndFlush, type CommandRequest, type CommandStreams } from './command-streams.js';
import { encodeOutcome, parseTerminalSize, statusErrorEncoding } from './protocol.js';
import { ChannelReader, ChannelWriter, SmallMessage, codecFor, demuxFor, type WsConnection } from './websocket/index.js';

/** Remote-command protocols over WebSocket, the server's preference first. */
export const WS_REMOTE_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
/** v5: a message on this channel names a channel the client has closed (its stdin's EOF). */
const CLOSE = 255;
/** Resize and close messages are a few dozen bytes; longer ones are dropped, not collected. */
const CONTROL_MESSAGE_BYTES = 4096;

/**
 * channel.k8s.io over WebSocket: every message carries its channel (0 stdin, 1 stdout, 2 stderr,
 * 3 error, 4 resize); all channels exist from the start.
 */
export function wsCommandStreams(conn: WsConnection, protocol: string, req: CommandRequest, command: string[]): CommandStreams {
  const codec = codecFor(protocol);
  const gone = new AbortController();
  let finishing = false;
  conn.once('close', () => {
    if (!finishing) gone.abort();
  });
  const stdin = req.stdin ? new ChannelReader(conn) : null;
  const stdout = req.stdout ? new ChannelWriter(conn, codec, STDOUT) : null;
  const stderr = req.stderr && !req.tty ? new ChannelWriter(conn, codec, STDERR) : null;
  const errors = new ChannelWriter(conn, codec, ERROR);
  const sizes = new TerminalSizes();
  const demux = demuxFor(protocol);
  const resizes = new SmallMessage(CONTROL_MESSAGE_BYTES);
  const closes = new SmallMessage(CONTROL_MESSAGE_BYTES);
  conn.on('data', (piece: Buffer, _text: boolean, first: boolean, last: boolean) => {
    const decoded = demux.push(piece, first, last);
    if (!decoded) return;
    if (decoded.channel === STDIN) stdin?.deliver(decoded.data);
    else if (decoded.channel === RESIZE) {
      const message = resizes.push(decoded);
      const size = message && parseTerminalSize(message.toString('utf8'));
      if (size) sizes.push(size);
    } else if (decoded.channel === CLOSE && protocol.startsWith('v5.')) {
      if (closes.push(decoded)?.[0] === STDIN) stdin?.push(null);
    }
  });
  conn.once('close', () => {
    if (stdin && !stdin.readableEnded) stdin.destroy();
  });
  // Kubernetes' servers open with an empty message on the lowest channel they write, which
  // clients take as "connected".
  const first = stdout ? STDOUT : stderr ? STDERR : ERROR;
  conn.send(codec.encode(first, Buffer.alloc(0)).payload, codec.encode(first, Buffer.alloc(0)).text);
  return {
    stdin,
    stdout,
    stderr,
    onResize: (l) => sizes.listen(l),
    gone: gone.signal,
    async finish(outcome) {
      finishing = true;
      await Promise.all([endAndFlush(stdout), endAndFlush(stderr)]);
      const payload = encodeOutcome(outcome, statusErrorEncoding(protocol), command);
      if (payload) errors.write(payload);
      await endAndFlush(errors);
      conn.close(1000);
    },
  };
}
