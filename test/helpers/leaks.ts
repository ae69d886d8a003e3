/**
 * What a daemon could leave on the node, counted for one test's own directories, bridge and
 * cgroup parent: mounts, pinned namespaces, IP leases, veths, iptables rules, cgroups and the
 * processes in them, conmon and other processes working for the test's daemon, and every
 * directory a pod, container, exec or pull makes under root and state_dir. One helper, used by
 * every test that proves "nothing is left".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { TestDirs } from './daemon.js';
import { allocatedIps, vethsOn, type TestNetwork } from './cni.js';
import { mountsBelow } from './system.js';

export interface LeakScope {
  dirs: TestDirs;
  net?: TestNetwork;
  /** The cgroup every pod of the test is placed below (its cgroup_parent's first part). */
  cgroupRoot?: string;
  /** Live daemons of the test: their own command lines name the test's directories. */
  daemonPids?: () => number[];
}

/** Each counter's items (paths, names, PIDs), so a failure says what was left, not only how many. */
export type LeakCounts = Record<LeakKind, string[]>;

export const LEAK_KINDS = [
  'mounts', 'netnsPins', 'ipLeases', 'veths', 'iptablesRules', 'cgroups', 'cgroupProcesses', 'conmons', 'otherProcesses',
  'socketDirs', 'bundles', 'exitFiles', 'execDirs', 'podDirs', 'runtimeState', 'containerDirs', 'rootfsDirs', 'usernsDirs',
  'layerTmpDirs', 'leftovers', 'layers', 'blobs', 'blobTmpFiles', 'cniCache', 'probeDirs', 'imageVolumes', 'podCheckpointDirs',
] as const;
export type LeakKind = (typeof LEAK_KINDS)[number];

function entries(...path: string[]): string[] {
  const dir = join(...path);
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function filesBelow(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of (() => { try { return readdirSync(d, { withFileTypes: true }); } catch { return []; } })()) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Cgroup directories below `root` in every hierarchy (not `root` itself), and the PIDs in them. */
function cgroupsBelow(root: string | undefined): { dirs: string[]; pids: string[] } {
  const dirs: string[] = [];
  const pids = new Set<string>();
  if (!root) return { dirs, pids: [] };
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const top = join('/sys/fs/cgroup', hierarchy, root);
    if (!existsSync(top)) continue;
    const walk = (dir: string, depth: number) => {
      if (depth > 0) dirs.push(dir);
      try {
        for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) pids.add(pid);
      } catch {
        // removed meanwhile
      }
      for (const e of (() => { try { return readdirSync(dir, { withFileTypes: true }); } catch { return []; } })()) {
        if (e.isDirectory()) walk(join(dir, e.name), depth + 1);
      }
    };
    walk(top, 0);
  }
  return { dirs, pids: [...pids] };
}

function readProc(pid: string, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return '';
  }
}

/** Processes whose command line or environment names the test's base directory. */
function processesFor(scope: LeakScope): { conmons: string[]; others: string[] } {
  const own = new Set([String(process.pid), String(process.ppid), ...(scope.daemonPids?.() ?? []).map(String)]);
  const marker = `${scope.dirs.base}/`;
  const conmons: string[] = [];
  const others: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || own.has(pid)) continue;
    const cmdline = readProc(pid, 'cmdline');
    if (!cmdline) continue;
    if (!cmdline.includes(marker) && !readProc(pid, 'environ').includes(marker)) continue;
    const argv = cmdline.split('\0').filter(Boolean);
    const line = `${pid} ${argv.join(' ').slice(0, 160)}`;
    if (/(^|\/)conmon$/.test(argv[0] ?? '')) conmons.push(line);
    else others.push(line);
  }
  return { conmons, others };
}

function iptablesRules(net: TestNetwork | undefined): string[] {
  if (!net) return [];
  const out = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout ?? '';
  // portmap's rules carry the network's name in their comments; bridge's, its subnet.
  return out.split('\n').filter((l) => l.startsWith('-A ') && (l.includes(`"${net.name}"`) || l.includes(`\\"${net.name}\\"`) || l.includes(`${net.prefix}.`)));
}

/** Everything the scope's daemon could leave on the node, counter by counter. */
export function countLeaks(scope: LeakScope): LeakCounts {
  const { root, state } = scope.dirs;
  const cgroups = cgroupsBelow(scope.cgroupRoot);
  const processes = processesFor(scope);
  const handlerRoots = ['runc', 'crun'].flatMap((h) => entries(state, h).map((e) => `${h}/${e}`));
  const blobs = entries(root, 'content', 'sha256');
  return {
    // The namespace directory's own mount belongs to a running daemon; pins below it do not.
    mounts: mountsBelow(scope.dirs.base).filter((m) => m !== join(state, 'ns')),
    netnsPins: entries(state, 'ns'),
    ipLeases: scope.net ? allocatedIps(scope.net) : [],
    veths: scope.net ? vethsOn(scope.net) : [],
    iptablesRules: iptablesRules(scope.net),
    cgroups: cgroups.dirs,
    cgroupProcesses: cgroups.pids,
    conmons: processes.conmons,
    otherProcesses: processes.others,
    socketDirs: entries(state, 'sockets'),
    bundles: entries(state, 'containers'),
    exitFiles: entries(state, 'exits'),
    execDirs: entries(state, 'exec'),
    podDirs: entries(state, 'pods'),
    runtimeState: handlerRoots,
    containerDirs: entries(root, 'containers'),
    rootfsDirs: entries(root, 'overlay', 'containers'),
    usernsDirs: [...entries(state, 'userns-rootfs'), ...entries(state, 'userns-layers')],
    layerTmpDirs: entries(root, 'overlay', 'tmp'),
    leftovers: entries(root, 'overlay', 'leftovers'),
    layers: entries(root, 'overlay', 'layers'),
    blobs: blobs.filter((b) => !b.startsWith('.tmp-')),
    blobTmpFiles: blobs.filter((b) => b.startsWith('.tmp-')),
    cniCache: filesBelow(join(root, 'cni-cache')),
    probeDirs: entries(state, 'probe'),
    imageVolumes: entries(state, 'image-volumes'),
    podCheckpointDirs: [...entries(root, 'pod-checkpoints'), ...entries(root, 'pod-restores')],
  };
}

/** Items of `now` that `before` did not have, counter by counter (only counters that grew). */
export function growth(before: LeakCounts, now: LeakCounts): Partial<LeakCounts> {
  const grown: Partial<LeakCounts> = {};
  for (const kind of LEAK_KINDS) {
    const had = new Set(before[kind]);
    const extra = now[kind].filter((item) => !had.has(item));
    if (extra.length > 0) grown[kind] = extra;
  }
  return grown;
}

/** Counter sizes, for reports: `{ mounts: 0, ... }`. */
export function sizes(counts: LeakCounts): Record<LeakKind, number> {
  return Object.fromEntries(LEAK_KINDS.map((k) => [k, counts[k].length])) as Record<LeakKind, number>;
}

/**
 * Waits (bounded) until nothing beyond `baseline` is left, then asserts it: processes that
 * were killed take a moment to exit and be reaped. The message lists what stayed.
 * `belongsElsewhere` names items that grew but belong to something still meant to exist.
 */
export async function assertNothingLeft(scope: LeakScope, baseline: LeakCounts, what: string, options: { settleMs?: number; belongsElsewhere?: (kind: LeakKind, item: string) => boolean } = {}): Promise<void> {
  const deadline = Date.now() + (options.settleMs ?? 5_000);
  const left = (): Partial<LeakCounts> => {
    const grown = growth(baseline, countLeaks(scope));
    if (!options.belongsElsewhere) return grown;
    for (const kind of Object.keys(grown) as LeakKind[]) {
      const items = grown[kind]!.filter((item) => !options.belongsElsewhere!(kind, item));
      if (items.length > 0) grown[kind] = items;
      else delete grown[kind];
    }
    return grown;
  };
  let grown = left();
  while (Object.keys(grown).length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    grown = left();
  }
  assert.deepEqual(grown, {}, `${what}: left behind`);
}

/** Everything zero: a daemon that is stopped, with nothing of its pods, containers or pulls left. */
export function emptyCounts(): LeakCounts {
  return Object.fromEntries(LEAK_KINDS.map((k) => [k, []])) as unknown as LeakCounts;
}

/** The daemon's resident set size in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return line ? Number(line.split(/\s+/)[1]) * 1024 : Number.NaN;
}

/** Samples a process's RSS every 10 ms while `work` runs: its RSS before, and the peak. */
export async function watchRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; baseline: number; peak: number }> {
  const baseline = rssBytes(pid);
  let peak = baseline;
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 10);
  try {
    const result = await work();
    peak = Math.max(peak, rssBytes(pid));
    return { result, baseline, peak };
  } finally {
    clearInterval(timer);
  }
}
