import type { Config } from '../config/index.js';
import { installedFile } from '../util/files.js';
import { installedFsCalls } from '../util/fs-calls.js';

/** A helper `make` builds into native/, and what the daemon does where it is missing. */
interface NativeHelper {
  name: string;
  /** Built, or replaced by a program the configuration names. */
  present: (runtime: RuntimeConfig) => boolean;
  without: string;
}

type RuntimeConfig = Pick<Config['runtime'], 'idmap_mount_helper'>;

const program = (file: string) => () => installedFile('native', file) !== undefined;

const HELPERS: readonly NativeHelper[] = [
  { name: 'native/spawn-helper', present: program('spawn-helper'), without: 'the daemon forks itself for every program it starts' },
  { name: 'native/mount-helper', present: program('mount-helper'), without: 'every mount and unmount runs mount(8) or umount(8)' },
  { name: 'native/pty-exec', present: program('pty-exec'), without: 'an exec with a terminal is refused' },
  { name: 'native/idmap-mount', present: (runtime) => runtime.idmap_mount_helper !== '' || program('idmap-mount')(), without: 'pods with a user namespace are refused' },
  {
    name: 'native/fs-calls.node', present: () => installedFsCalls() !== undefined,
    without: 'layer whiteouts, device nodes and attributes take a program each; stats read cgroup files on the event loop; a log line being written at exit may be lost',
  },
];

/**
 * The native helpers this installation lacks, each with what its absence costs: the daemon
 * runs without any of them, but an operator should know that it runs slower or refuses some
 * requests, and why.
 */
export function missingNativeHelpers(runtime: RuntimeConfig): Record<string, string> {
  return Object.fromEntries(HELPERS.filter((h) => !h.present(runtime)).map((h) => [h.name, h.without]));
}
