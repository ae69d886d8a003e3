import type { Logger } from '../log/index.js';
import { messageOf } from '../errors/index.js';
import type { Attachment, ExecProcess } from '../oci/index.js';
import type { CommandRequest, CommandStreams } from './command-streams.js';

/**
 * Runs one exec session to its end: the client's stdin into the process, its output back,
 * resizes to its terminal. A client that goes away takes the process (and its children) down.
 */
export async function runExecSession(target: { id: string; exec(cmd: string[], tty: boolean): Promise<ExecProcess> }, cmd: string[], req: CommandRequest, streams: CommandStreams, log: Logger): Promise<void> {
  let proc: ExecProcess;
  try {
    proc = await target.exec(cmd, req.tty);
  } catch (err) {
    await streams.finish({ error: messageOf(err) });
    return;
  }
  const onGone = () => {
    log.info({ container: target.id }, 'exec client went away; killing its process');
    proc.kill();
  };
  streams.gone.addEventListener('abort', onGone, { once: true });
  const input = proc.stdin;
  if (streams.stdin && input) streams.stdin.pipe(input);
  // Without a tty, no stdin means EOF at once (like </dev/null); with one, the terminal stays open.
  else if (!req.tty) input?.end();
  if (streams.stdout) proc.stdout.pipe(streams.stdout, { end: false });
  else proc.stdout.resume();
  if (proc.stderr) {
    if (streams.stderr) proc.stderr.pipe(streams.stderr, { end: false });
    else proc.stderr.resume();
  }
  streams.onResize((size) => proc.resize(size));
  const outcome = await proc.exited;
  streams.gone.removeEventListener('abort', onGone);
  if (input) streams.stdin?.unpipe(input);
  if (!streams.gone.aborted) await streams.finish(outcome);
}

export interface AttachOptions extends CommandRequest {
  /** The container was created with stdin open; otherwise the client's stdin is ignored. */
  containerStdin: boolean;
}

/**
 * Runs one attach session: conmon copies the container's output to this client (and to any
 * other attached at the same time); the client's stdin goes to the container's. The session
 * ends when the container's monitor closes the socket (the container exited) or the client leaves.
 */
export async function runAttachSession(target: { id: string; attach(): Promise<Attachment> }, opts: AttachOptions, streams: CommandStreams, log: Logger): Promise<void> {
  let attachment: Attachment;
  try {
    attachment = await target.attach();
  } catch (err) {
    await streams.finish({ error: messageOf(err) });
    return;
  }
  const closed = new Promise<void>((resolve) => attachment.once('close', resolve));
  streams.gone.addEventListener('abort', () => attachment.close(), { once: true });
  attachment.on('stdout', (d: Buffer) => streams.stdout?.write(d));
  attachment.on('stderr', (d: Buffer) => (streams.stderr ?? streams.stdout)?.write(d));
  streams.onResize((size) => attachment.resize(size));
  if (streams.stdin && opts.containerStdin) {
    void (async () => {
      try {
        for await (const chunk of streams.stdin!) await attachment.writeStdin(chunk as Buffer);
        // conmon closes the container's stdin on this only when the container is stdin_once.
        attachment.closeStdin();
      } catch {
        // the client dropped its stdin stream; the session's end handles the rest
      }
    })();
  } else {
    streams.stdin?.resume();
  }
  await closed;
  log.debug({ container: target.id }, 'attach session ended');
  if (!streams.gone.aborted) await streams.finish({ exitCode: 0 });
}
