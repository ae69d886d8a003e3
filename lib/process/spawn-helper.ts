import { installedFile } from '../util/files.js';
import { HelperChannel, type HelperGeneration } from './helper-channel.js';

/** Bits of a run request (native/spawn-helper.c names them RUN_*). */
export const RUN = { INPUT: 1, SETSID: 2, SYNC_PIPE: 4, START_PIPE: 8, CAPTURE: 16, OUTPUT_GRACE: 32 } as const;

export interface HelperRun {
  file: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** RUN_* bits. */
  flags: number;
  timeoutMs?: number;
  input?: string | Buffer;
}

/** How a program run by the helper ended. */
export type HelperExit =
  | { kind: 'code'; value: number; timedOut: boolean; stdout: Buffer; stderr: Buffer }
  | { kind: 'signal'; value: number; timedOut: boolean; stdout: Buffer; stderr: Buffer }
  /** It could not be started (exec or chdir failed, errno `value`), or the helper died under it. */
  | { kind: 'error'; value: number; message: string };

/** One program the helper started. */
export interface HelperProcess {
  /** Its PID, once the helper has forked it. */
  readonly pid: Promise<number>;
  /** The first line it wrote on its sync pipe; empty if it wrote none (RUN.SYNC_PIPE only). */
  readonly syncLine: Promise<string>;
  readonly exited: Promise<HelperExit>;
  /** Lets a program held at its start pipe go on (RUN.START_PIPE). */
  release(): void;
  kill(signal: number): void;
}

interface Pending {
  pid: (pid: number) => void;
  sync: (line: string) => void;
  exited: (exit: HelperExit) => void;
}

function field(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const len = Buffer.alloc(4);
  len.writeUInt32LE(bytes.length, 0);
  return Buffer.concat([len, bytes]);
}

function parseFields(body: Buffer): Buffer[] {
  const fields: Buffer[] = [];
  let off = 0;
  while (off + 4 <= body.length) {
    const len = body.readUInt32LE(off);
    fields.push(body.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return fields;
}

/**
 * The daemon's one spawn helper (native/spawn-helper), started on the first run and kept. A
 * fork of the daemon itself copies the page tables of a big process and holds its event loop
 * until the child has called exec, some milliseconds a program; the helper is small, forks on
 * its own time, and answers over its pipes. If it dies, the programs it was watching are
 * failed (they go on, unwatched) and the next run starts a new helper.
 */
export class SpawnHelper {
  private readonly pending = new Map<string, Pending>();
  private readonly channel: HelperChannel;
  private seq = 0;

  constructor(readonly path: string) {
    this.channel = new HelperChannel(path, 'spawn helper', {
      onFrame: (frame) => this.answer(parseFields(frame)),
      onFailure: (err) => this.failPending(err),
      busy: () => this.pending.size > 0,
    });
  }

  run(req: HelperRun): HelperProcess {
    const id = String(++this.seq);
    const generation = this.channel.running();
    let pid!: (pid: number) => void;
    let sync!: (line: string) => void;
    let exited!: (exit: HelperExit) => void;
    const proc: HelperProcess = {
      pid: new Promise((resolve) => { pid = resolve; }),
      syncLine: new Promise((resolve) => { sync = resolve; }),
      exited: new Promise((resolve) => { exited = resolve; }),
      release: () => this.send(generation, ['release', id]),
      kill: (signal) => this.send(generation, ['kill', id, String(signal)]),
    };
    this.pending.set(id, { pid, sync, exited });
    const env = Object.entries(req.env).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`);
    this.send(generation, ['run', id, String(req.flags), String(req.timeoutMs ?? 0), req.cwd ?? '', req.input ?? '', String(1 + req.args.length), req.file, ...req.args, ...env]);
    return proc;
  }

  private send(generation: HelperGeneration, fields: Array<string | Buffer>): void {
    this.channel.send(generation, Buffer.concat(fields.map(field)));
  }

  private answer(fields: Buffer[]): void {
    // Only the verb and the ID as text: an exit's fields carry the program's whole output.
    const verb = fields[0]?.toString();
    const idField = fields[1]?.toString();
    const call = this.pending.get(idField ?? '');
    if (!call) return;
    if (verb === 'started') call.pid(Number(fields[2]!.toString()));
    else if (verb === 'sync') call.sync(fields[2]!.toString());
    else if (verb === 'exited') {
      this.pending.delete(idField!);
      call.pid(-1);
      call.sync('');
      const how = fields[2]!.toString();
      const value = Number(fields[3]!.toString());
      if (how === 'error') call.exited({ kind: 'error', value, message: fields[6]!.toString() });
      else call.exited({ kind: how === 'signal' ? 'signal' : 'code', value, timedOut: fields[4]!.toString() === '1', stdout: Buffer.from(fields[5]!), stderr: Buffer.from(fields[6]!) });
    }
  }

  private failPending(err: Error): void {
    for (const call of this.pending.values()) {
      call.pid(-1);
      call.sync('');
      call.exited({ kind: 'error', value: 0, message: err.message });
    }
    this.pending.clear();
  }

  /** Ends the helper at the end of its input, on which it kills the programs still held at their start pipe. */
  close(): void {
    this.channel.close(new Error('spawn helper closed'), false);
  }
}

let shared: SpawnHelper | null | undefined;

/** This installation's helper, or undefined when it is not built (child_process.spawn does the work then). */
export function spawnHelper(): SpawnHelper | undefined {
  if (shared === undefined) {
    const path = installedFile('native', 'spawn-helper');
    shared = path ? new SpawnHelper(path) : null;
  }
  return shared ?? undefined;
}
