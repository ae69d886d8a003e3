/**
 * Reading a cgroup's usage from its control files, for cgroup v1 and v2. Pure over a file
 * reader, so fixture trees test both layouts on any host.
 */

/** Reads one control file of the cgroup (`memory.stat`, `cpu.stat` …); undefined when absent. */
export type ControlFileReader = (file: string) => string | undefined;

export interface PsiData {
  total: bigint;
  avg10: number;
  avg60: number;
  avg300: number;
}

export interface Psi {
  some?: PsiData;
  full?: PsiData;
}

export interface MemoryStats {
  usageBytes: bigint;
  /** What kubelet evicts on: usage minus inactive file pages (floored at 0). */
  workingSetBytes: bigint;
  rssBytes: bigint;
  pageFaults: bigint;
  majorPageFaults: bigint;
  /** Absent when the cgroup has no memory limit. */
  limitBytes?: bigint;
  psi?: Psi;
}

export interface SwapStats {
  usageBytes: bigint;
  limitBytes?: bigint;
}

export interface CgroupStats {
  /** Cumulative CPU time of every task in the cgroup, in nanoseconds. */
  cpuUsageNs?: bigint;
  cpuPsi?: Psi;
  memory?: MemoryStats;
  swap?: SwapStats;
  pids?: bigint;
  /** Times the OOM killer killed a task in this cgroup. */
  oomKills?: bigint;
  /** Times the cgroup hit its limit and the OOM path ran (v2 `oom`; v1 has no separate count). */
  oomEvents?: bigint;
  ioPsi?: Psi;
}

/** v1 writes "no limit" as PAGE_COUNTER_MAX pages in bytes (just under 2^63); anything this large is unlimited. */
const V1_UNLIMITED = 1n << 62n;

function parseUint(text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  return BigInt(trimmed);
}

/**
 * `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control); with `wanted`,
 * only those keys (memory.stat has some 70 lines, of which the stats use four).
 */
export function parseFlatKeyed(text: string | undefined, wanted?: ReadonlySet<string>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  if (!text) return out;
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const key = line.slice(0, space);
    if (wanted && !wanted.has(key)) continue;
    const value = parseUint(line.slice(space + 1));
    if (value !== undefined) out.set(key, value);
  }
  return out;
}

const V1_MEMORY_STAT_KEYS: ReadonlySet<string> = new Set(['inactive_file', 'rss', 'pgfault', 'pgmajfault'].flatMap((k) => [k, `total_${k}`]));
const V2_MEMORY_STAT_KEYS: ReadonlySet<string> = new Set(['inactive_file', 'anon', 'pgfault', 'pgmajfault']);

/** A v2 limit file: a number, or `max` for none. */
function parseLimitV2(text: string | undefined): bigint | undefined {
  if (text === undefined || text.trim() === 'max') return undefined;
  return parseUint(text);
}

function parseLimitV1(text: string | undefined): bigint | undefined {
  const value = parseUint(text);
  return value !== undefined && value < V1_UNLIMITED ? value : undefined;
}

/** A pressure file: `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and the same for `full`. */
export function parsePsi(text: string | undefined): Psi | undefined {
  if (!text) return undefined;
  const psi: Psi = {};
  for (const line of text.split('\n')) {
    const [kind, ...pairs] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const values = new Map(pairs.map((p) => p.split('=') as [string, string]));
    psi[kind] = {
      total: parseUint(values.get('total')) ?? 0n,
      avg10: Number(values.get('avg10') ?? 0),
      avg60: Number(values.get('avg60') ?? 0),
      avg300: Number(values.get('avg300') ?? 0),
    };
  }
  return psi.some || psi.full ? psi : undefined;
}

const clampSub = (a: bigint, b: bigint): bigint => (a > b ? a - b : 0n);

function readV1(read: ControlFileReader): CgroupStats {
  const stats: CgroupStats = {};
  stats.cpuUsageNs = parseUint(read('cpuacct.usage'));
  const usage = parseUint(read('memory.usage_in_bytes'));
  if (usage !== undefined) {
    const stat = parseFlatKeyed(read('memory.stat'), V1_MEMORY_STAT_KEYS);
    // The total_ counters include child cgroups: a pod's or container's whole subtree.
    const pick = (key: string): bigint => stat.get(`total_${key}`) ?? stat.get(key) ?? 0n;
    const limit = parseLimitV1(read('memory.limit_in_bytes'));
    stats.memory = {
      usageBytes: usage,
      workingSetBytes: clampSub(usage, pick('inactive_file')),
      rssBytes: pick('rss'),
      pageFaults: pick('pgfault'),
      majorPageFaults: pick('pgmajfault'),
      limitBytes: limit,
    };
    const memsw = parseUint(read('memory.memsw.usage_in_bytes'));
    if (memsw !== undefined) {
      const memswLimit = parseLimitV1(read('memory.memsw.limit_in_bytes'));
      stats.swap = {
        usageBytes: clampSub(memsw, usage),
        limitBytes: memswLimit !== undefined && limit !== undefined ? clampSub(memswLimit, limit) : undefined,
      };
    }
    stats.oomKills = parseFlatKeyed(read('memory.oom_control')).get('oom_kill');
  }
  stats.pids = parseUint(read('pids.current'));
  return stats;
}

function readV2(read: ControlFileReader): CgroupStats {
  const stats: CgroupStats = {};
  const usec = parseFlatKeyed(read('cpu.stat')).get('usage_usec');
  if (usec !== undefined) stats.cpuUsageNs = usec * 1000n;
  stats.cpuPsi = parsePsi(read('cpu.pressure'));
  const usage = parseUint(read('memory.current'));
  if (usage !== undefined) {
    const stat = parseFlatKeyed(read('memory.stat'), V2_MEMORY_STAT_KEYS);
    stats.memory = {
      usageBytes: usage,
      workingSetBytes: clampSub(usage, stat.get('inactive_file') ?? 0n),
      // v2 has no rss line; anonymous memory is what v1 counted as rss.
      rssBytes: stat.get('anon') ?? 0n,
      pageFaults: stat.get('pgfault') ?? 0n,
      majorPageFaults: stat.get('pgmajfault') ?? 0n,
      limitBytes: parseLimitV2(read('memory.max')),
      psi: parsePsi(read('memory.pressure')),
    };
    const swap = parseUint(read('memory.swap.current'));
    if (swap !== undefined) stats.swap = { usageBytes: swap, limitBytes: parseLimitV2(read('memory.swap.max')) };
    const events = parseFlatKeyed(read('memory.events'));
    stats.oomKills = events.get('oom_kill');
    stats.oomEvents = events.get('oom');
  }
  stats.ioPsi = parsePsi(read('io.pressure'));
  stats.pids = parseUint(read('pids.current'));
  return stats;
}

export function readCgroupStats(version: 1 | 2, read: ControlFileReader): CgroupStats {
  return version === 2 ? readV2(read) : readV1(read);
}
