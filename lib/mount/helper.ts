import { HelperChannel } from '../process/helper-channel.js';
import { installedFile } from '../util/files.js';

/** MS_* flags of mount(2) this module asks for (linux/mount.h). */
export const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, REMOUNT: 0x20, NOATIME: 0x400, NODIRATIME: 0x800,
  BIND: 0x1000, REC: 0x4000, PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20, RELATIME: 1 << 21, STRICTATIME: 1 << 24,
} as const;
/** umount2(2) flags. */
export const MNT_DETACH = 0x2;

/** mount(2) copies one page of data: longer options would be cut. */
export const MAX_MOUNT_DATA = 4095;

/** A mount(2) or umount2(2) call the kernel refused; `errno` is its error number. */
export class MountCallError extends Error {
  constructor(message: string, readonly errno: number) {
    super(message);
  }
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const CALL_TIMEOUT_MS = 30_000;

/**
 * The daemon's one mount helper process (native/mount-helper), started on the first call and
 * kept: a mount is a round trip over its pipes instead of a fork and exec of mount(8). Calls
 * are answered in order; one that takes longer than its timeout (a hung filesystem) ends the
 * helper, failing the calls waiting on it, and the next call starts a new one.
 */
export class MountHelper {
  private readonly pending: Pending[] = [];
  private readonly channel: HelperChannel;

  constructor(readonly path: string) {
    this.channel = new HelperChannel(path, 'mount helper', {
      onFrame: (body) => this.answer(body),
      onFailure: (err) => this.failPending(err),
      busy: () => this.pending.length > 0,
    });
  }

  mount(source: string, target: string, fstype: string, flags: number, data: string, cwd = ''): Promise<void> {
    if (Buffer.byteLength(data) > MAX_MOUNT_DATA) {
      return Promise.reject(new MountCallError(`mount ${fstype} on ${target}: options of ${Buffer.byteLength(data)} bytes exceed the one page mount(2) takes`, 7 /* E2BIG */));
    }
    return this.call(['mount', source, target, fstype, String(flags), data, cwd]);
  }

  umount(target: string, flags: number): Promise<void> {
    return this.call(['umount', target, String(flags)]);
  }

  private call(fields: string[]): Promise<void> {
    const generation = this.channel.running();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.channel.fail(generation, new Error(`mount helper did not answer within ${CALL_TIMEOUT_MS} ms (${fields.slice(0, 3).join(' ')})`)), CALL_TIMEOUT_MS);
      this.pending.push({ resolve, reject, timer });
      this.channel.send(generation, Buffer.from(fields.map((f) => `${f}\0`).join('')));
    });
  }

  /** Answers come in the order of the calls: an errno (0 for success) and a message. */
  private answer(body: Buffer): void {
    const [errno = '', message = ''] = body.toString().split('\0');
    const call = this.pending.shift();
    if (!call) return;
    clearTimeout(call.timer);
    if (errno === '0') call.resolve();
    else call.reject(new MountCallError(message, Number(errno)));
  }

  private failPending(err: Error): void {
    for (const call of this.pending.splice(0)) {
      clearTimeout(call.timer);
      call.reject(err);
    }
  }

  /** Ends the helper (it also ends by itself when the daemon dies). */
  close(): void {
    this.channel.close(new Error('mount helper closed'));
  }
}

let shared: MountHelper | null | undefined;

/** This installation's helper, or undefined when it is not built (mount(8) does the work then). */
export function mountHelper(): MountHelper | undefined {
  if (shared === undefined) {
    const path = installedFile('native', 'mount-helper');
    shared = path ? new MountHelper(path) : null;
  }
  return shared ?? undefined;
}

/** mount(8)-style options split into MS_* flags and the filesystem's own data. */
export function splitMountOptions(options: string): { flags: number; data: string } {
  const FLAG_WORDS: Record<string, number> = {
    rw: 0, ro: MS.RDONLY, nosuid: MS.NOSUID, nodev: MS.NODEV, noexec: MS.NOEXEC,
    noatime: MS.NOATIME, nodiratime: MS.NODIRATIME, relatime: MS.RELATIME, strictatime: MS.STRICTATIME,
  };
  let flags = 0;
  const data: string[] = [];
  for (const word of options.split(',').filter(Boolean)) {
    const bit = FLAG_WORDS[word];
    if (bit === undefined) data.push(word);
    else flags |= bit;
  }
  return { flags, data: data.join(',') };
}
