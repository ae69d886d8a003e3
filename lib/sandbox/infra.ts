import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { FailedPreconditionError, InternalError } from '../errors/index.js';
import { mountPoints, pinNamespaceOf, type NamespaceFiles } from '../mount/index.js';

const CANDIDATES = ['/usr/bin/catatonit', '/usr/libexec/catatonit/catatonit', '/usr/local/bin/catatonit'];

function pauseBinary(): string {
  for (const path of CANDIDATES) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  throw new FailedPreconditionError(`a pod-wide PID namespace needs catatonit (looked in ${CANDIDATES.join(', ')})`);
}

/**
 * Starts the pod's infra process: `catatonit -P` as PID 1 of a new PID namespace, inside the
 * pod's net/ipc/uts namespaces, with that PID namespace pinned to `paths.pid` so containers
 * join it by path. Detached: it outlives a daemon restart like the pod does.
 */
export async function startInfra(paths: NamespaceFiles): Promise<number> {
  const pidFile = paths.pid!;
  writeFileSync(pidFile, '', { flag: 'a' });
  const enter = (['user', 'net', 'ipc', 'uts'] as const).filter((k) => paths[k]).map((k) => `--${k}=${paths[k]}`);
  // In a pod's user namespace the PID namespace must be its too (containers mount /proc), and
  // unshare's own pinning would then run inside it, without the right to mount on the host:
  // the daemon pins it from outside instead (pinFromHost).
  const pinHere = !paths.user;
  // --kill-child: the infra dies with its unshare parent, so killing either ends the PID namespace.
  const argv = ['unshare', pinHere ? `--pid=${pidFile}` : '--pid', '--fork', '--kill-child', pauseBinary(), '-P'];
  const [file, ...args] = enter.length > 0 ? ['nsenter', ...enter, '--', ...argv] : argv;
  const child = spawn(file!, args, { detached: true, stdio: 'ignore' });
  child.unref();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let code: number | null | undefined;
  void exited.then((c) => { code = c ?? -1; });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (code !== undefined) throw new InternalError(`infra process exited with ${code} before its PID namespace was pinned`);
    if (mountPoints().has(pidFile) && processesIn(pidFile).length > 0) return child.pid!;
    if (!pinHere) await pinFromHost(child.pid!, pidFile);
    await sleep(5);
  }
  child.kill('SIGKILL');
  throw new InternalError('infra process did not start within 10 s');
}

/** Bind-mounts the PID namespace of unshare's forked child (the infra) once it exists. */
async function pinFromHost(unsharePid: number, pidFile: string): Promise<void> {
  let infra: string | undefined;
  try {
    infra = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(' ')[0];
  } catch {
    return;
  }
  if (!infra || mountPoints().has(pidFile)) return;
  await pinNamespaceOf(Number(infra), 'pid', pidFile);
}

/** Host PIDs of the processes in the pinned PID namespace (found by namespace inode, never by a stored PID that may have been reused). */
/**
 * The PID namespaces that hold at least one process now, as their `pid:[INODE]` links: one
 * pass over /proc answers for every pod at once (a restart checks them all).
 */
export function occupiedPidNamespaces(): Set<string> {
  const links = new Set<string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      links.add(readlinkSync(`/proc/${entry}/ns/pid`));
    } catch {
      // exited meanwhile
    }
  }
  return links;
}

/** Whether a pinned PID namespace holds any process, by the set `occupiedPidNamespaces` found. */
export function pidNamespaceOccupied(pidNsFile: string, occupied: Set<string>): boolean {
  try {
    return occupied.has(`pid:[${statSync(pidNsFile).ino}]`);
  } catch {
    return false;
  }
}

export function processesIn(pidNsFile: string): number[] {
  let inode: number;
  try {
    inode = statSync(pidNsFile).ino;
  } catch {
    return [];
  }
  const link = `pid:[${inode}]`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) === link) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Kills everything in the pod's PID namespace and waits until it is empty. */
export async function stopInfra(pidNsFile: string): Promise<void> {
  if (!mountPoints().has(pidNsFile)) return;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = processesIn(pidNsFile);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (Date.now() > deadline) throw new InternalError(`processes ${pids.join(', ')} of the pod's PID namespace did not exit`);
    await sleep(10);
  }
}
