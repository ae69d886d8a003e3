import { DeadlineExceededError } from '../errors/index.js';
import { TerminalSizes, endAndFlush, type CommandRequest, type CommandStreams } from './command-streams.js';
import { JsonObjectSplitter, RemoteCommandProtocol, StreamType, encodeOutcome, parseTerminalSize, statusErrorEncoding } from './protocol.js';
import type { SpdySession, SpdyStream } from './spdy/index.js';

/** The streams a client of `protocol` must open for `req` (Kubernetes' own rule). */
export function expectedSpdyStreams(protocol: string, req: CommandRequest): string[] {
  const want: string[] = [StreamType.ERROR];
  if (req.stdin) want.push(StreamType.STDIN);
  if (req.stdout) want.push(StreamType.STDOUT);
  if (req.stderr && !req.tty) want.push(StreamType.STDERR);
  if (req.tty && protocol !== RemoteCommandProtocol.V1 && protocol !== RemoteCommandProtocol.V2) want.push(StreamType.RESIZE);
  return want;
}

/**
 * Waits until the client opened every stream the request needs, then hands them over as a
 * CommandStreams. A client that takes longer than `timeoutMs` is disconnected.
 */
export function acceptSpdyCommand(session: SpdySession, protocol: string, req: CommandRequest, timeoutMs: number, command: string[]): Promise<CommandStreams> {
  const expected = expectedSpdyStreams(protocol, req);
  const got = new Map<string, SpdyStream>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      session.close();
      reject(new DeadlineExceededError(`the client opened ${[...got.keys()].join(', ') || 'no streams'} of ${expected.join(', ')} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onClose = () => {
      cleanup();
      reject(new DeadlineExceededError('the client went away before opening its streams'));
    };
    const onStream = (stream: SpdyStream) => {
      const type = stream.header('streamtype') ?? '';
      if (!expected.includes(type) || got.has(type)) {
        // Nobody would read it, and its unread data would stall the connection: refuse it.
        stream.destroy();
        return;
      }
      got.set(type, stream);
      if (got.size === expected.length) {
        cleanup();
        resolve(spdyCommandStreams(session, protocol, got, command));
      }
    };
    const cleanup = () => {
      clearTimeout(timer);
      session.off('stream', onStream);
      session.off('close', onClose);
    };
    session.on('stream', onStream);
    session.on('close', onClose);
  });
}

function spdyCommandStreams(session: SpdySession, protocol: string, streams: Map<string, SpdyStream>, command: string[]): CommandStreams {
  const gone = new AbortController();
  let finishing = false;
  session.once('close', () => {
    if (!finishing) gone.abort();
  });
  // Every stream the session needs is open; any later one is refused rather than left unread.
  session.on('stream', (extra: SpdyStream) => extra.destroy());
  const errorStream = streams.get(StreamType.ERROR)!;
  const resizeStream = streams.get(StreamType.RESIZE);
  const sizes = new TerminalSizes();
  if (resizeStream) {
    const splitter = new JsonObjectSplitter();
    resizeStream.setEncoding('utf8');
    resizeStream.on('data', (text: string) => {
      for (const object of splitter.push(text)) {
        const size = parseTerminalSize(object);
        if (size) sizes.push(size);
      }
    });
  }
  // Nothing is read from the error stream, but its FIN must not stall the connection.
  errorStream.resume();
  const stdout = streams.get(StreamType.STDOUT) ?? null;
  const stderr = streams.get(StreamType.STDERR) ?? null;
  return {
    stdin: streams.get(StreamType.STDIN) ?? null,
    stdout,
    stderr,
    onResize: (l) => sizes.listen(l),
    gone: gone.signal,
    async finish(outcome) {
      finishing = true;
      await Promise.all([endAndFlush(stdout), endAndFlush(stderr)]);
      const payload = encodeOutcome(outcome, statusErrorEncoding(protocol), command);
      if (payload && !errorStream.destroyed) errorStream.write(payload);
      await endAndFlush(errorStream);
      session.close();
    },
  };
}
