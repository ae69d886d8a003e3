import { accessSync, chmodSync, constants, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../errors/index.js';
import { runCommand, CommandFailedError } from '../process/index.js';
import type { OciSpec } from './types.js';
import { idmapMount, mountsBelow, pinUserNamespace, unmount, unmountAll, type IdMappings } from '../mount/index.js';
import { pidAlive } from '../util/pids.js';

/** A static program the probe container runs; catatonit is installed for pods anyway. */
const PROBE_PROGRAMS = ['/usr/bin/catatonit', '/usr/libexec/catatonit/catatonit', '/usr/local/bin/catatonit'];
/** A range no pod is likely to use, so the probe never shares IDs with a real pod. */
const PROBE_MAPPING: IdMappings = { uids: [{ containerId: 0, hostId: 3_000_000_000, size: 65536 }], gids: [{ containerId: 0, hostId: 3_000_000_000, size: 65536 }] };
const PROBE_TIMEOUT_MS = 20_000;
/** A probe container's ID, and the name of its top-level cgroup: `runcri-probe-<handler>-<daemon PID>-<ms>`. */
const PROBE_ID = /^runcri-probe-.+-(\d+)-\d+$/;

export interface ProbeTarget {
  name: string;
  path: string;
  scratch: string;
}

export interface ProbeOutcome {
  /** Empty when the handler ran a container; otherwise why it cannot. */
  problem: string;
}

function findProgram(): string | undefined {
  return PROBE_PROGRAMS.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function probeSpec(rootfs: string, cgroup: string, userns?: string): OciSpec {
  const namespaces: OciSpec['linux']['namespaces'] = [{ type: 'mount' }, { type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }];
  if (userns) namespaces.push({ type: 'user', path: userns });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false, user: { uid: 0, gid: 0 }, args: ['/probe', '--version'], env: ['PATH=/'], cwd: '/',
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] }, rlimits: [], noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    // runc reads /proc/self/fd inside before it execs.
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] }],
    annotations: {},
    linux: {
      // A top-level cgroup of its own: the runtime removes it with the container.
      namespaces, resources: {}, cgroupsPath: `/${cgroup}`, devices: [],
      ...(userns ? { uidMappings: PROBE_MAPPING.uids.map(ociMapping), gidMappings: PROBE_MAPPING.gids.map(ociMapping) } : {}),
    },
  };
}

function ociMapping(m: IdMappings['uids'][number]): { containerID: number; hostID: number; size: number } {
  return { containerID: m.containerId, hostID: m.hostId, size: m.size };
}

/**
 * Clears a probe's scratch directory left by a daemon that was killed in the middle of one: the
 * mounts below it (deepest first, detached so none can hold the start up) and then its files.
 */
export async function removeProbeLeftovers(scratch: string): Promise<void> {
  const mounts = mountsBelow(scratch).sort((a, b) => b.length - a.length);
  for (const mount of mounts) await unmount(mount, { lazy: true });
  rmSync(scratch, { recursive: true, force: true });
}

/**
 * Removes, from the top of each cgroup hierarchy mounted at `hierarchies`, the cgroups of
 * probes whose daemon is gone: a runtime killed with it never deleted its probe container.
 * The probe of another daemon, still running, is left alone, and so is a cgroup that still
 * holds a process (rmdir refuses it). Returns the paths removed.
 */
export function removeProbeCgroups(hierarchies: readonly string[]): string[] {
  const removed: string[] = [];
  for (const hierarchy of hierarchies) {
    let names: string[];
    try {
      names = readdirSync(hierarchy);
    } catch {
      continue;
    }
    for (const name of names) {
      const owner = PROBE_ID.exec(name)?.[1];
      // This daemon has not probed yet: a cgroup named after its PID is a predecessor's.
      if (owner === undefined || (Number(owner) !== process.pid && pidAlive(Number(owner)))) continue;
      try {
        rmdirSync(join(hierarchy, name));
        removed.push(join(hierarchy, name));
      } catch {
        // Busy (a process is still in it) or already gone.
      }
    }
  }
  return removed;
}

/** Runs the probe container to its end; resolves with why it failed, or '' when it ran. */
async function runProbe(t: ProbeTarget, dir: string, spec: (id: string) => OciSpec): Promise<string> {
  const id = `runcri-probe-${t.name}-${process.pid}-${Date.now()}`;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec(id)));
  const root = join(dir, 'state');
  try {
    await runCommand(t.path, [`--root=${root}`, 'run', '--bundle', dir, id], { timeoutMs: PROBE_TIMEOUT_MS });
    return '';
  } catch (err) {
    await runCommand(t.path, [`--root=${root}`, 'delete', '--force', id], { timeoutMs: PROBE_TIMEOUT_MS }).catch(() => undefined);
    const text = err instanceof CommandFailedError ? (err.stderr.trim() || err.message) : messageOf(err);
    return lastErrorLine(text);
  }
}

/** runc and crun print JSON log lines or plain text; the last line is the reason. */
function lastErrorLine(text: string): string {
  const last = text.split('\n').filter((l) => l.trim()).pop() ?? text;
  try {
    const parsed = JSON.parse(last) as { msg?: string };
    return parsed.msg ?? last;
  } catch {
    return last;
  }
}

/**
 * Whether the handler can run a container here at all: a one-shot container of a static
 * program. (crun 1.8 cannot on a cgroup v1 host whose cgroup2 hierarchy holds a controller,
 * for instance, and only running it tells.)
 */
export async function probeRun(t: ProbeTarget): Promise<ProbeOutcome> {
  const program = findProgram();
  if (!program) return { problem: '' };
  const dir = mkdtempSync(join(t.scratch, `${t.name}-`));
  try {
    // crun wants /dev in the root filesystem, runc makes it.
    for (const sub of ['proc', 'dev']) mkdirSync(join(dir, 'rootfs', sub), { recursive: true });
    copyFileSync(program, join(dir, 'rootfs', 'probe'));
    return { problem: await runProbe(t, dir, (id) => probeSpec(join(dir, 'rootfs'), id)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Whether the handler and this kernel can run a user-namespaced pod the way runcri makes one:
 * a pinned user namespace, the root filesystem an ID-mapped view, the container joining both.
 */
export async function probeUserNamespaces(t: ProbeTarget, helper: string | undefined): Promise<ProbeOutcome> {
  if (!helper) return { problem: 'the ID-mapped mount helper (native/idmap-mount) is not built' };
  const program = findProgram();
  if (!program) return { problem: 'no static probe program (catatonit) to test with' };
  const dir = mkdtempSync(join(t.scratch, `${t.name}-userns-`));
  // runc reaches the root filesystem as the container's root, an unprivileged ID on the host.
  chmodSync(dir, 0o711);
  const userns = join(dir, 'userns');
  const view = join(dir, 'rootfs');
  let pinned = false;
  let viewMounted = false;
  try {
    for (const sub of ['proc', 'dev']) mkdirSync(join(dir, 'image', sub), { recursive: true });
    mkdirSync(view);
    copyFileSync(program, join(dir, 'image', 'probe'));
    await pinUserNamespace({ user: userns }, PROBE_MAPPING);
    pinned = true;
    await idmapMount(helper, userns, join(dir, 'image'), view);
    viewMounted = true;
    return { problem: await runProbe(t, dir, (id) => probeSpec(view, `${id}-userns`, userns)) };
  } catch (err) {
    return { problem: messageOf(err) };
  } finally {
    await unmountAll([...(viewMounted ? [view] : []), ...(pinned ? [userns] : [])]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `BINARY features` (runc >= 1.1.? / OCI features document): whether `rro` is a mount option it knows. */
export async function probeRecursiveReadOnly(path: string): Promise<boolean> {
  try {
    const { stdout } = await runCommand(path, ['features'], { timeoutMs: PROBE_TIMEOUT_MS });
    const doc = JSON.parse(stdout) as { mountOptions?: unknown };
    return Array.isArray(doc.mountOptions) && doc.mountOptions.includes('rro');
  } catch {
    return false;
  }
}
