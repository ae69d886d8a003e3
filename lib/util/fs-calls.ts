/**
 * This installation's `native/fs-calls.node` addon: the file system calls Node.js has no
 * binding for (mknod, lsetxattr), or none cheap enough for hundreds of reads a call (a batch
 * of preads on libuv's thread pool), or none whose progress can be seen from an exit handler
 * (a write on the thread pool). Every user has a way without it, slower or, for the log at
 * exit, less sure: the addon is built by `make`, not by `npm install`.
 */
import { installedFile } from './files.js';

/** The addon's calls. Each throws an Error whose `code` is the errno name. */
export interface FsCalls {
  /** mknod(2): `mode` holds the file type bits and the permissions (the umask applies). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2): sets an attribute of the path itself, never of a symlink's target. */
  lsetxattr(path: string, name: string, value: Buffer): void;
  /**
   * pread(2) at offset 0 of `fds[i]` into `buffer` from `slots[i]` to `slots[i + 1]`, for each
   * i in [start, end), off the event loop; `lengths[i]` gets the bytes read or -errno. The
   * descriptors must stay open until the promise settles.
   */
  preadBatch(fds: Int32Array, buffer: Buffer, slots: Int32Array, lengths: Int32Array, start: number, end: number): Promise<void>;
  /**
   * One write(2) of `buffer` to `fd`, off the event loop. `state[1]` gets the bytes written or
   * -errno, then `state[0]` becomes 1: readable (with Atomics.load) even where the promise can
   * no longer settle, in an exit handler.
   */
  writeOnce(fd: number, buffer: Buffer, state: Int32Array): Promise<void>;
}

let installed: FsCalls | null | undefined;

/** The addon at `path`, or null when it does not load here. */
function loadAddon(path: string): FsCalls | null {
  // process.dlopen, not require: node:module would bring the ES module loader into a worker.
  const addon = { exports: {} };
  try {
    process.dlopen(addon, path);
    return addon.exports as FsCalls;
  } catch {
    return null;
  }
}

/** This installation's addon, or undefined when it is not built (or does not load here). */
export function installedFsCalls(): FsCalls | undefined {
  if (installed === undefined) {
    const path = installedFile('native', 'fs-calls.node');
    installed = path ? loadAddon(path) : null;
  }
  return installed ?? undefined;
}
