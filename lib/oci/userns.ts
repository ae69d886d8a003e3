import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { InternalError, messageOf } from '../errors/index.js';
import { runCommand } from '../process/index.js';

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

/** Files to pin a user namespace and the namespaces it owns at; `user` is required. */
export interface UserNamespaceFiles {
  user: string;
  net?: string;
  ipc?: string;
  uts?: string;
}

const TIMEOUT_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** Mount points of this process, for undoing a partly pinned set. */
function mounted(): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (field) out.add(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
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
  const pinned: string[] = [];
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
      const file = files[kind]!;
      writeFileSync(file, '', { flag: 'a' });
      await runCommand('mount', ['--bind', `/proc/${pid}/ns/${kind}`, file], { timeoutMs: TIMEOUT_MS });
      pinned.push(file);
    }));
    if (hostname && files.uts) {
      await runCommand('nsenter', [`--user=${files.user}`, `--uts=${files.uts}`, '--', 'hostname', hostname], { timeoutMs: TIMEOUT_MS });
    }
  } catch (err) {
    holder.kill('SIGKILL');
    await done;
    await unpin(pinned);
    throw err;
  }
  holder.stdin!.end();
  await done;
}

async function unpin(files: string[]): Promise<void> {
  const points = mounted();
  const targets = files.filter((f) => points.has(f));
  if (targets.length > 0) await runCommand('umount', targets, { timeoutMs: TIMEOUT_MS });
  for (const f of files) rmSync(f, { force: true });
}

/**
 * Mounts at `target` (an existing directory) an ID-mapped view of the directory `source`, with
 * the IDs of the user namespace pinned at `userns`, through runcri's helper.
 */
export async function idmapMount(helper: string, userns: string, source: string, target: string): Promise<void> {
  await runCommand(helper, [userns, source, target], { timeoutMs: TIMEOUT_MS });
}
