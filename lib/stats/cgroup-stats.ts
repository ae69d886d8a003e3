/**
 * Reading a cgroup's usage from its control files, for cgroup v1 and v2. Pure over a file
 * reader, so fixture trees test both layouts on any host.
 */

/** Reads one control file of the cgroup (`memory.stat`, `cpu.stat` …); undefined when absent. */
export type ControlFileReader = (file: string) => string | undefined;

/**
 * `usage`: what the CRI stats messages of a container carry (CPU, memory, swap, pressure);
 * `all` adds the process count and OOM counters, which pods and the pod metrics report.
 * Every file left unread is a syscall less per container per call.
 */
export type StatsScope = 'usage' | 'all';

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

const isBlank = (code: number): boolean => code === 32 || code === 10 || code === 9 || code === 13;

/**
 * The unsigned decimal in text[start, end), blanks around it allowed; undefined for anything
 * else. Read digit by digit: these run for every counter of every container on every call.
 */
function uintAt(text: string, start: number, end: number): bigint | undefined {
  while (start < end && isBlank(text.charCodeAt(start))) start++;
  while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
  if (start === end) return undefined;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  // up to 15 digits the number is exact; longer ones go through the string
  return end - start <= 15 ? BigInt(value) : BigInt(text.slice(start, end));
}

function parseUint(text: string | undefined): bigint | undefined {
  return text === undefined ? undefined : uintAt(text, 0, text.length);
}

/** `\nKEY `, the needle that finds KEY's line anywhere but the first. */
const needles = new Map<string, string>();

/**
 * The value on KEY's line of a `key value` file, found without splitting the file into lines:
 * memory.stat has dozens of lines, of which the stats use four.
 */
export function valueOfKey(text: string, key: string): bigint | undefined {
  let at: number;
  if (text.startsWith(key) && text.charCodeAt(key.length) === 32) {
    at = 0;
  } else {
    let needle = needles.get(key);
    if (needle === undefined) {
      needle = `\n${key} `;
      needles.set(key, needle);
    }
    const found = text.indexOf(needle);
    if (found < 0) return undefined;
    at = found + 1;
  }
  const start = at + key.length + 1;
  const newline = text.indexOf('\n', start);
  return uintAt(text, start, newline < 0 ? text.length : newline);
}

/** `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control), every line parsed. */
export function parseFlatKeyed(text: string | undefined): Map<string, bigint> {
  const out = new Map<string, bigint>();
  if (!text) return out;
  for (let lineStart = 0; lineStart < text.length;) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    const space = text.indexOf(' ', lineStart);
    if (space > lineStart && space < lineEnd) {
      const value = uintAt(text, space + 1, lineEnd);
      if (value !== undefined) out.set(text.slice(lineStart, space), value);
    }
    lineStart = lineEnd + 1;
  }
  return out;
}

/** memory.stat keys the stats read; v1's `total_` lines include child cgroups (a pod's or container's whole subtree). */
const STAT_KEYS = ['inactive_file', 'rss', 'anon', 'pgfault', 'pgmajfault'] as const;
type StatKey = (typeof STAT_KEYS)[number];
const V1_TOTAL_KEYS = Object.fromEntries(STAT_KEYS.map((k) => [k, `total_${k}`])) as Record<StatKey, string>;

/** A v1 memory.stat counter: its subtree total where the kernel gives one, else the cgroup's own. */
function v1StatValue(text: string | undefined, key: StatKey): bigint {
  if (!text) return 0n;
  return valueOfKey(text, V1_TOTAL_KEYS[key]) ?? valueOfKey(text, key) ?? 0n;
}

function v2StatValue(text: string | undefined, key: StatKey): bigint {
  return text ? (valueOfKey(text, key) ?? 0n) : 0n;
}

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

function readV1(read: ControlFileReader, scope: StatsScope): CgroupStats {
  const stats: CgroupStats = {};
  stats.cpuUsageNs = parseUint(read('cpuacct.usage'));
  const usage = parseUint(read('memory.usage_in_bytes'));
  if (usage !== undefined) {
    const stat = read('memory.stat');
    const limit = parseLimitV1(read('memory.limit_in_bytes'));
    stats.memory = {
      usageBytes: usage,
      workingSetBytes: clampSub(usage, v1StatValue(stat, 'inactive_file')),
      rssBytes: v1StatValue(stat, 'rss'),
      pageFaults: v1StatValue(stat, 'pgfault'),
      majorPageFaults: v1StatValue(stat, 'pgmajfault'),
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
    if (scope === 'all') stats.oomKills = parseFlatKeyed(read('memory.oom_control')).get('oom_kill');
  }
  if (scope === 'all') stats.pids = parseUint(read('pids.current'));
  return stats;
}

function readV2(read: ControlFileReader, scope: StatsScope): CgroupStats {
  const stats: CgroupStats = {};
  const usec = parseFlatKeyed(read('cpu.stat')).get('usage_usec');
  if (usec !== undefined) stats.cpuUsageNs = usec * 1000n;
  stats.cpuPsi = parsePsi(read('cpu.pressure'));
  const usage = parseUint(read('memory.current'));
  if (usage !== undefined) {
    const stat = read('memory.stat');
    stats.memory = {
      usageBytes: usage,
      workingSetBytes: clampSub(usage, v2StatValue(stat, 'inactive_file')),
      // v2 has no rss line; anonymous memory is what v1 counted as rss.
      rssBytes: v2StatValue(stat, 'anon'),
      pageFaults: v2StatValue(stat, 'pgfault'),
      majorPageFaults: v2StatValue(stat, 'pgmajfault'),
      limitBytes: parseLimitV2(read('memory.max')),
      psi: parsePsi(read('memory.pressure')),
    };
    const swap = parseUint(read('memory.swap.current'));
    if (swap !== undefined) stats.swap = { usageBytes: swap, limitBytes: parseLimitV2(read('memory.swap.max')) };
    if (scope === 'all') {
      const events = parseFlatKeyed(read('memory.events'));
      stats.oomKills = events.get('oom_kill');
      stats.oomEvents = events.get('oom');
    }
  }
  stats.ioPsi = parsePsi(read('io.pressure'));
  if (scope === 'all') stats.pids = parseUint(read('pids.current'));
  return stats;
}

/**
 * Every control file readCgroupStats may read for a version and scope, so that a caller can
 * read them all in one batch first. Kept beside the readers above: a file they read and this
 * does not name still works, read on its own (see KeptCgroupFiles.readBatch).
 */
const CONTROL_FILES: Record<1 | 2, Record<StatsScope, readonly string[]>> = (() => {
  const v1 = ['cpuacct.usage', 'memory.usage_in_bytes', 'memory.stat', 'memory.limit_in_bytes', 'memory.memsw.usage_in_bytes', 'memory.memsw.limit_in_bytes'];
  const v2 = ['cpu.stat', 'cpu.pressure', 'memory.current', 'memory.stat', 'memory.max', 'memory.pressure', 'memory.swap.current', 'memory.swap.max', 'io.pressure'];
  return {
    1: { usage: v1, all: [...v1, 'memory.oom_control', 'pids.current'] },
    2: { usage: v2, all: [...v2, 'memory.events', 'pids.current'] },
  };
})();

export function controlFilesOf(version: 1 | 2, scope: StatsScope): readonly string[] {
  return CONTROL_FILES[version][scope];
}

export function readCgroupStats(version: 1 | 2, read: ControlFileReader, scope: StatsScope = 'all'): CgroupStats {
  return version === 2 ? readV2(read, scope) : readV1(read, scope);
}
