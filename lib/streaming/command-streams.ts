import type { Readable, Writable } from 'node:stream';
import type { CommandOutcome, TerminalSize } from './protocol.js';

/**
 * A remote-command session as the exec and attach runners see it, whatever the wire (SPDY
 * streams or WebSocket channels). Absent streams are null: the client did not ask for them.
 */
export interface CommandStreams {
  stdin: Readable | null;
  stdout: Writable | null;
  stderr: Writable | null;
  /** Also called at once with the latest size, if the client sent one before the listener came. */
  onResize(listener: (size: TerminalSize) => void): void;
  /** Aborted when the client goes away before the session finished. */
  readonly gone: AbortSignal;
  /** Flushes the outputs, reports the outcome on the error stream and closes the connection. */
  finish(outcome: CommandOutcome): Promise<void>;
}

/** What the client asked for; decides which streams a session waits for. */
export interface CommandRequest {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/**
 * The terminal sizes a client sends, for whoever runs the session. Clients send their size the
 * moment their streams are open (kubectl does), which is often before the session has a
 * terminal to apply it to (attach first connects to the container's monitor); so the latest
 * size is kept and handed to each listener as it subscribes, not dropped.
 */
export class TerminalSizes {
  private readonly listeners: ((size: TerminalSize) => void)[] = [];
  private latest: TerminalSize | undefined;

  push(size: TerminalSize): void {
    this.latest = size;
    for (const listener of this.listeners) listener(size);
  }

  listen(listener: (size: TerminalSize) => void): void {
    this.listeners.push(listener);
    if (this.latest) listener(this.latest);
  }
}

/** Ends a writable and resolves once its data is flushed (or it broke). */
export function endAndFlush(stream: Writable | null): Promise<void> {
  if (!stream || stream.writableFinished || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('finish', resolve);
    stream.once('close', resolve);
    stream.end();
  });
}
