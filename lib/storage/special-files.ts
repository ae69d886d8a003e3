/**
 * What a layer holds besides files, directories and links: overlay whiteouts, device nodes,
 * fifos and extended attributes. Node.js has no call for mknod(2) or lsetxattr(2), so they go
 * through this installation's `native/fs-calls.node` addon, or, where it is not built, through
 * the mknod(1) and setfattr(1) programs: the same result, at a process per entry.
 *
 * The module that runs programs is loaded on first use: it brings child_process, and with it
 * net and dgram, into every unpack worker thread that imports it, which costs each worker's
 * start some milliseconds for nothing when the addon is there.
 */
import { chmodSync, constants } from 'node:fs';
import { installedFsCalls, type FsCalls } from '../util/fs-calls.js';

export type NodeType = 'character-device' | 'block-device' | 'fifo';

const COMMAND_TIMEOUT_MS = 10_000;
const TYPE_BITS: Record<NodeType, number> = { 'character-device': constants.S_IFCHR, 'block-device': constants.S_IFBLK, fifo: constants.S_IFIFO };
const MKNOD_TYPE: Record<NodeType, string> = { 'character-device': 'c', 'block-device': 'b', fifo: 'p' };

async function run(file: string, args: string[]): Promise<void> {
  const { runCommand } = await import('../process/index.js');
  await runCommand(file, args, { timeoutMs: COMMAND_TIMEOUT_MS });
}

/**
 * Makes special files at absolute paths. `calls` null means the programs, whatever is
 * installed (the tests of that path use it).
 */
export class SpecialFiles {
  private readonly calls: FsCalls | undefined;
  private readonly umask = process.umask();

  constructor(calls?: FsCalls | null) {
    this.calls = calls === null ? undefined : (calls ?? installedFsCalls());
  }

  /** Overlay's whiteout: a character device 0/0 hides the lower layers' entry of that name. */
  async whiteout(path: string): Promise<void> {
    if (this.calls) this.calls.mknod(path, constants.S_IFCHR, 0, 0);
    else await run('mknod', ['-m', '0', path, 'c', '0', '0']);
  }

  /** A device node or fifo with exactly the permission bits given (set-ID and sticky too). */
  async node(path: string, type: NodeType, mode: number, major: number, minor: number): Promise<void> {
    const perm = mode & 0o7777;
    if (this.calls) {
      this.calls.mknod(path, TYPE_BITS[type] | (perm & 0o777), major, minor);
    } else {
      const device = type === 'fifo' ? [] : [String(major), String(minor)];
      await run('mknod', ['-m', (perm & 0o777).toString(8), path, MKNOD_TYPE[type], ...device]);
    }
    // mknod(2) takes the umask, and neither it nor mknod(1) takes set-ID or sticky bits: chmod
    // puts them as they were asked for.
    if ((perm & 0o7000) !== 0 || (perm & this.umask) !== 0) chmodSync(path, perm);
  }

  /** Sets an extended attribute on the path itself (a symlink's own, not its target's). */
  async setXattr(path: string, name: string, value: Buffer): Promise<void> {
    if (this.calls) this.calls.lsetxattr(path, name, value);
    else await run('setfattr', ['-h', '-n', name, '-v', `0s${value.toString('base64')}`, path]);
  }
}
