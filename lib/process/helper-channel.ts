import { spawn, type ChildProcess } from 'node:child_process';

/** What a channel's owner does with the helper's answers and its end. */
export interface HelperChannelOwner {
  /** One answer: the bytes of a frame, without its length. */
  onFrame(body: Buffer): void;
  /** The helper ended or failed; the calls waiting on it will not be answered. Told once per helper. */
  onFailure(err: Error): void;
  /** Whether calls are still waiting on the helper: while none are, it does not keep the daemon alive. */
  busy(): boolean;
}

/** Which start of the helper a call went to: a call for a helper that has since died must not reach the next one. */
export type HelperGeneration = number;

/**
 * A long-lived helper program (native/mount-helper, native/spawn-helper) spoken to over its
 * stdin and stdout in frames: a 4-byte little-endian length and that many bytes. Started on
 * first use and kept; when it dies the owner is told, and the next use starts a new one.
 */
export class HelperChannel {
  private child: ChildProcess | undefined;
  private generation: HelperGeneration = 0;
  private buffered: Buffer = Buffer.alloc(0);

  constructor(
    readonly path: string,
    private readonly name: string,
    private readonly owner: HelperChannelOwner,
  ) {}

  /** The running helper's generation, starting one if none runs. */
  running(): HelperGeneration {
    if (this.child) return this.generation;
    const child = spawn(this.path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    const generation = ++this.generation;
    this.child = child;
    this.buffered = Buffer.alloc(0);
    child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stdin!.on('error', (err) => this.fail(generation, err));
    child.on('error', (err) => this.fail(generation, err));
    child.on('exit', (code, signal) => this.fail(generation, new Error(`${this.name} exited (${signal ?? code})`)));
    this.idle(child);
    return generation;
  }

  /** Sends one frame to the helper of `generation`; dropped when that helper is gone. */
  send(generation: HelperGeneration, body: Buffer): void {
    const child = this.child;
    if (!child || generation !== this.generation) return;
    const len = Buffer.alloc(4);
    len.writeUInt32LE(body.length, 0);
    child.ref();
    child.stdin!.write(Buffer.concat([len, body]));
  }

  /** Ends the helper of `generation` (killed, unless `kill` is false) and tells the owner. */
  fail(generation: HelperGeneration, err: Error, kill = true): void {
    const child = this.child;
    if (!child || generation !== this.generation) return;
    this.child = undefined;
    if (kill) child.kill('SIGKILL');
    else child.stdin!.end();
    this.owner.onFailure(err);
  }

  /** Ends the running helper: killed, or (`kill` false) told by the end of its input. */
  close(err: Error, kill = true): void {
    if (this.child) this.fail(this.generation, err, kill);
  }

  /** Between calls the helper must not keep the daemon's event loop alive. */
  private idle(child: ChildProcess): void {
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (this.buffered.length >= 4) {
      const len = this.buffered.readUInt32LE(0);
      if (this.buffered.length < 4 + len) return;
      const body = this.buffered.subarray(4, 4 + len);
      this.buffered = this.buffered.subarray(4 + len);
      this.owner.onFrame(body);
    }
    if (!this.owner.busy() && this.child) this.idle(this.child);
  }
}
