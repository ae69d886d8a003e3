import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors/index.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';

/** The kernel's range for cpu.shares (runc reads the value back and fails outside it). */
const MIN_SHARES = 2;
const MAX_SHARES = 262_144;
/** CFS bandwidth periods and quotas are 1 ms to 1 s and at least 1 ms, in microseconds. */
const MIN_CFS_US = 1000;
const MAX_CFS_PERIOD_US = 1_000_000;
const CPU_LIST = /^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/;
const PAGE_SIZE = /^([0-9]+)([KMG])B$/;

function int(value: string | undefined, field: string): bigint {
  if (!value) return 0n;
  if (!/^-?[0-9]+$/.test(value)) throw new InvalidArgumentError(`${field}: "${value}" is not an integer`);
  const n = BigInt(value);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(`${field}: ${value} is out of range`);
  return n;
}

/** The highest index in a kernel list like `0-3,8` (the node's online CPUs or memory nodes). */
function highestIn(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (!CPU_LIST.test(text)) return undefined;
    return Math.max(...text.split(/[,-]/).map(Number));
  } catch {
    return undefined;
  }
}

function checkList(value: string, field: string, highestPath: string, what: string): void {
  if (!value) return;
  if (!CPU_LIST.test(value)) throw new InvalidArgumentError(`${field}: "${value}" is not a list like 0-3,6`);
  const highest = highestIn(highestPath);
  for (const part of value.split(',')) {
    const [first, last = first] = part.split('-').map(Number) as [number, number?];
    if (last! < first) throw new InvalidArgumentError(`${field}: range ${part} runs backwards`);
    if (highest !== undefined && last! > highest) throw new InvalidArgumentError(`${field}: ${what} ${last} does not exist on this node (highest: ${highest})`);
  }
}

/**
 * Refuses CRI Linux resources the kernel (or runc) would refuse, naming the field, so such a
 * request is INVALID_ARGUMENT before anything is made rather than a failed cgroup write or
 * runc run afterwards. Zero means "not set", as in CRI; -1 is "unlimited" where the kernel
 * knows it. Limits the kernel may still refuse for the moment (a memory limit below what the
 * container uses now) are left to it. `partial`: unset fields keep values set before, so the
 * checks between fields are left to the caller, on the merged values.
 */
export function checkLinuxResources(r: LinuxContainerResources__Output | null | undefined, field: string, options: { partial?: boolean } = {}): void {
  if (!r) return;
  const shares = int(r.cpu_shares, `${field}.cpu_shares`);
  if (shares !== 0n && (shares < BigInt(MIN_SHARES) || shares > BigInt(MAX_SHARES))) {
    throw new InvalidArgumentError(`${field}.cpu_shares: ${shares} is outside ${MIN_SHARES}..${MAX_SHARES}`);
  }
  const period = int(r.cpu_period, `${field}.cpu_period`);
  if (period !== 0n && (period < BigInt(MIN_CFS_US) || period > BigInt(MAX_CFS_PERIOD_US))) {
    throw new InvalidArgumentError(`${field}.cpu_period: ${period} is outside ${MIN_CFS_US}..${MAX_CFS_PERIOD_US} microseconds`);
  }
  const quota = int(r.cpu_quota, `${field}.cpu_quota`);
  if (quota !== 0n && quota !== -1n && quota < BigInt(MIN_CFS_US)) {
    throw new InvalidArgumentError(`${field}.cpu_quota: ${quota} must be -1 (unlimited) or at least ${MIN_CFS_US} microseconds`);
  }
  const memory = int(r.memory_limit_in_bytes, `${field}.memory_limit_in_bytes`);
  if (memory < -1n) throw new InvalidArgumentError(`${field}.memory_limit_in_bytes: ${memory} must be -1 (unlimited) or positive`);
  const swap = int(r.memory_swap_limit_in_bytes, `${field}.memory_swap_limit_in_bytes`);
  if (swap < -1n) throw new InvalidArgumentError(`${field}.memory_swap_limit_in_bytes: ${swap} must be -1 (unlimited) or positive`);
  // The swap limit counts memory and swap together: it needs a memory limit no higher than it
  // (in a partial update the memory limit may be the one already set: checked after merging).
  if (!options.partial && swap > 0n && (memory <= 0n || swap < memory)) {
    throw new InvalidArgumentError(`${field}.memory_swap_limit_in_bytes: ${swap} needs a memory_limit_in_bytes no higher than it (have ${memory})`);
  }
  const adj = int(r.oom_score_adj, `${field}.oom_score_adj`);
  if (adj < -1000n || adj > 1000n) throw new InvalidArgumentError(`${field}.oom_score_adj: ${adj} is outside -1000..1000`);
  checkList(r.cpuset_cpus, `${field}.cpuset_cpus`, '/sys/devices/system/cpu/online', 'CPU');
  checkList(r.cpuset_mems, `${field}.cpuset_mems`, '/sys/devices/system/node/online', 'memory node');
  for (const h of r.hugepage_limits ?? []) {
    const m = PAGE_SIZE.exec(h.page_size);
    if (!m) throw new InvalidArgumentError(`${field}.hugepage_limits: page size "${h.page_size}" is not like 2MB or 1GB`);
    const kib = BigInt(m[1]!) * { K: 1n, M: 1024n, G: 1024n * 1024n }[m[2] as 'K' | 'M' | 'G'];
    if (!existsSync(`/sys/kernel/mm/hugepages/hugepages-${kib}kB`)) throw new InvalidArgumentError(`${field}.hugepage_limits: this node has no ${h.page_size} huge pages`);
    if (int(h.limit, `${field}.hugepage_limits[${h.page_size}].limit`) < 0n) throw new InvalidArgumentError(`${field}.hugepage_limits: the ${h.page_size} limit is negative`);
  }
  for (const key of Object.keys(r.unified ?? {})) {
    if (key === '' || key.includes('/') || key.startsWith('.')) throw new InvalidArgumentError(`${field}.unified: "${key}" is not a cgroup file name`);
  }
}

/** The pod cgroup's combined limits (resources plus overhead) must still hold together. */
export function checkPodLimits(combined: { memoryLimit?: bigint; memorySwapLimit?: bigint }, field: string): void {
  const { memoryLimit, memorySwapLimit } = combined;
  if (memorySwapLimit !== undefined && memorySwapLimit > 0n && (memoryLimit === undefined || memoryLimit <= 0n || memorySwapLimit < memoryLimit)) {
    throw new InvalidArgumentError(`${field}: resources and overhead together give a swap limit of ${memorySwapLimit} bytes against a memory limit of ${memoryLimit ?? 'none'}`);
  }
}
