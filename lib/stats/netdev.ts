import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { runCommand } from '../process/index.js';

export interface InterfaceCounters {
  name: string;
  rxBytes: bigint;
  rxErrors: bigint;
  txBytes: bigint;
  txErrors: bigint;
}

/** Parses `/proc/net/dev`; the loopback is left out, as kubelet's summary has no use for it. */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (!name || name === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/);
    if (f.length < 16 || !f.every((v) => /^\d+$/.test(v))) continue;
    out.push({ name, rxBytes: BigInt(f[0]!), rxErrors: BigInt(f[2]!), txBytes: BigInt(f[8]!), txErrors: BigInt(f[10]!) });
  }
  return out;
}

function nsInode(path: string): string | undefined {
  try {
    return String(statSync(path).ino);
  } catch {
    return undefined;
  }
}

function netnsOfPid(pid: string): string | undefined {
  try {
    const link = readlinkSync(`/proc/${pid}/ns/net`);
    return link.slice(link.indexOf('[') + 1, -1);
  } catch {
    return undefined;
  }
}

/** Pinned namespace files whose counters were read with nsenter recently (no process inside). */
const FALLBACK_TTL_NS = 1_000_000_000n;

/**
 * Network counters of pinned network namespaces. Node cannot setns, so it reads
 * `/proc/PID/net/dev` of some process living in the namespace (a file read, microseconds):
 * one scan of /proc maps namespaces to processes, and each pod's process is remembered and
 * re-checked with one readlink. Only a namespace with no process at all costs an `nsenter`,
 * and that answer is kept for a second.
 */
export class NetnsCounters {
  private readonly pidOf = new Map<string, string>();
  private readonly fallback = new Map<string, { atNs: bigint; value: InterfaceCounters[] }>();

  constructor(private readonly now: () => bigint) {}

  /** Counters for each namespace path; a namespace that cannot be read is left out. */
  async read(nsPaths: readonly string[]): Promise<Map<string, InterfaceCounters[]>> {
    const out = new Map<string, InterfaceCounters[]>();
    const inodes = new Map<string, string>();
    for (const path of nsPaths) {
      const ino = nsInode(path);
      if (ino) inodes.set(path, ino);
    }
    // One readlink per pod confirms its remembered process is still in its namespace; after
    // this and the scan, pidOf holds only processes known to be in theirs.
    const unresolved = new Map<string, string>();
    for (const [path, ino] of inodes) {
      const pid = this.pidOf.get(path);
      if (pid && netnsOfPid(pid) === ino) continue;
      this.pidOf.delete(path);
      unresolved.set(ino, path);
    }
    if (unresolved.size > 0) this.scan(unresolved);
    const viaNsenter: string[] = [];
    for (const path of inodes.keys()) {
      const pid = this.pidOf.get(path);
      if (pid) {
        try {
          out.set(path, parseNetDev(readFileSync(`/proc/${pid}/net/dev`, 'utf8')));
          continue;
        } catch {
          this.pidOf.delete(path);
        }
      }
      viaNsenter.push(path);
    }
    await Promise.all(viaNsenter.map(async (path) => {
      const value = await this.readWithNsenter(path);
      if (value) out.set(path, value);
    }));
    return out;
  }

  private scan(wanted: Map<string, string>): void {
    for (const [, path] of wanted) this.pidOf.delete(path);
    let pids: string[];
    try {
      pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    } catch {
      return;
    }
    let left = wanted.size;
    for (const pid of pids) {
      const ino = netnsOfPid(pid);
      const path = ino && wanted.get(ino);
      if (path && !this.pidOf.has(path)) {
        this.pidOf.set(path, pid);
        if (--left === 0) return;
      }
    }
  }

  private async readWithNsenter(path: string): Promise<InterfaceCounters[] | undefined> {
    const cached = this.fallback.get(path);
    const now = this.now();
    if (cached && now - cached.atNs < FALLBACK_TTL_NS) return cached.value;
    try {
      const { stdout } = await runCommand('nsenter', [`--net=${path}`, 'cat', '/proc/net/dev'], { timeoutMs: 5000 });
      const value = parseNetDev(stdout);
      this.fallback.set(path, { atNs: now, value });
      return value;
    } catch {
      return undefined;
    }
  }

  retain(live: ReadonlySet<string>): void {
    for (const path of this.pidOf.keys()) if (!live.has(path)) this.pidOf.delete(path);
    for (const path of this.fallback.keys()) if (!live.has(path)) this.fallback.delete(path);
  }
}
