import { spawn } from 'node:child_process';
import { readlinkSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { InternalError, messageOf } from '../errors/index.js';
import { runCommand } from '../process/index.js';
import { bindMount, unmountAll } from './mounts.js';

/** One line of a uid_map/gid_map: `size` IDs from `containerId` inside are `hostId` on the node. */
export interface IdMapping {
  containerId: number;
  hostId: number;
  size: number;
}

export interface IdMappings {
  uids: IdMapping[];
  gids: IdMapping[];
}

/** Files to pin namespaces at; a kind without a file is not made. */
export interface NamespaceFiles {
  net?: string;
  ipc?: string;
  uts?: string;
  pid?: string;
  user?: string;
}

/** The files of a user namespace and the namespaces it owns; `user` is required. */
export type UserNamespaceFiles = Omit<NamespaceFiles, 'pid'> & { user: string };

const TIMEOUT_MS = 10_000;

/**
 * Creates the net/ipc/uts namespaces named in `files` in one `unshare`, runs `setup` (an
 * argument array) inside them, then pins each at its file: they live on without any process.
 * Resolves false, making nothing, when `files` names none of the three.
 */
export async function pinNamespaces(files: NamespaceFiles, setup: readonly string[]): Promise<boolean> {
  const args: string[] = [];
  for (const kind of ['net', 'ipc', 'uts'] as const) {
    const file = files[kind];
    if (!file) continue;
    writeFileSync(file, '', { flag: 'a' });
    args.push(`--${kind}=${file}`);
  }
  if (args.length === 0) return false;
  await runCommand('unshare', [...args, ...setup], { timeoutMs: 3 * TIMEOUT_MS });
  return true;
}

/** Pins namespace `kind` of process `pid` at `file` (created if needed). */
export async function pinNamespaceOf(pid: number, kind: 'pid' | 'net' | 'ipc' | 'uts' | 'user', file: string): Promise<void> {
  writeFileSync(file, '', { flag: 'a' });
  await bindMount(`/proc/${pid}/ns/${kind}`, file);
}

/** statfs(2)'s f_type of the namespace filesystem (nsfs). */
const NSFS_MAGIC = 0x6e736673;

/**
 * Whether a namespace is pinned at `file`: the file is a mount of nsfs, asked with one
 * statfs instead of a read of the whole mount table.
 */
export function isPinnedNamespace(file: string): boolean {
  try {
    return statfsSync(file).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

/** Unmounts and deletes pinned namespace files; already gone is fine. */
export async function unpinNamespaces(files: NamespaceFiles): Promise<void> {
  const list = Object.values(files).filter((p): p is string => !!p);
  await unmountAll(list);
  for (const f of list) rmSync(f, { force: true });
}

function nsLink(pid: number | 'self', kind: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

function mapText(mappings: IdMapping[]): string {
  return mappings.map((m) => `${m.containerId} ${m.hostId} ${m.size}\n`).join('');
}

/**
 * Creates a user namespace with `mappings` and, in the same unshare, the net/ipc/uts
 * namespaces named in `files`, so they are owned by it (root of the pod may then configure
 * its own network and mount sysfs and mqueue), then pins each one at its file from the host
 * side. `unshare --user=FILE` cannot do this: its pinning child is refused the bind mount of a
 * user namespace here, and util-linux 2.38 maps more than one ID only through newuidmap.
 * The hostname, when given, is set inside the new UTS namespace as the namespace's root.
 */
export async function pinUserNamespace(files: UserNamespaceFiles, mappings: IdMappings, hostname?: string): Promise<void> {
  const kinds = (['user', 'net', 'ipc', 'uts'] as const).filter((k) => files[k]);
  const own = nsLink('self', 'user');
  // `cat` only holds the namespaces until they are pinned; closing its stdin ends it.
  const holder = spawn('unshare', [...kinds.map((k) => `--${k}`), '--', 'cat'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  holder.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  let exited: number | null | undefined;
  const done = new Promise<void>((resolve) => {
    holder.once('error', (err) => { stderr += messageOf(err); exited = -1; resolve(); });
    holder.once('exit', (code) => { exited = code ?? -1; resolve(); });
  });
  const pid = holder.pid ?? 0;
  const pinned: NamespaceFiles = {};
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    while (!(pid > 0 && nsLink(pid, 'user') !== undefined && nsLink(pid, 'user') !== own)) {
      if (exited !== undefined) throw new InternalError(`unshare exited (${exited}) before making the namespaces: ${stderr.trim()}`);
      if (Date.now() > deadline) throw new InternalError('unshare did not make the namespaces within 10 s');
      await sleep(2);
    }
    // Written by root of the parent namespace, which needs no newuidmap and no setgroups=deny.
    writeFileSync(`/proc/${pid}/uid_map`, mapText(mappings.uids));
    writeFileSync(`/proc/${pid}/gid_map`, mapText(mappings.gids));
    await Promise.all(kinds.map(async (kind) => {
      await pinNamespaceOf(pid, kind, files[kind]!);
      pinned[kind] = files[kind];
    }));
    if (hostname && files.uts) {
      await runCommand('nsenter', [`--user=${files.user}`, `--uts=${files.uts}`, '--', 'hostname', hostname], { timeoutMs: TIMEOUT_MS });
    }
  } catch (err) {
    holder.kill('SIGKILL');
    await done;
    await unpinNamespaces(pinned);
    throw err;
  }
  holder.stdin!.end();
  await done;
}
