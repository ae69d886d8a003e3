import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import { InvalidArgumentError } from '../errors/index.js';

/** The cgroup limits of a CRI `LinuxContainerResources`, with "unset" as undefined. */
export interface CgroupResources {
  cpuShares?: bigint;
  cpuQuota?: bigint;
  cpuPeriod?: bigint;
  memoryLimit?: bigint;
  /** v1 semantics: memory plus swap; -1 is unlimited. */
  memorySwapLimit?: bigint;
  cpusetCpus?: string;
  cpusetMems?: string;
  hugepageLimits?: { pageSize: string; limit: bigint }[];
  /** v2 files written as given. */
  unified?: Record<string, string>;
}

function positive(value: string | undefined): bigint | undefined {
  if (!value) return undefined;
  const n = BigInt(value);
  return n > 0n ? n : undefined;
}

export function fromCri(r: LinuxContainerResources__Output | null | undefined): CgroupResources {
  if (!r) return {};
  const out: CgroupResources = {
    cpuShares: positive(r.cpu_shares),
    cpuQuota: positive(r.cpu_quota),
    cpuPeriod: positive(r.cpu_period),
    memoryLimit: positive(r.memory_limit_in_bytes),
    memorySwapLimit: r.memory_swap_limit_in_bytes === '-1' ? -1n : positive(r.memory_swap_limit_in_bytes),
    cpusetCpus: r.cpuset_cpus || undefined,
    cpusetMems: r.cpuset_mems || undefined,
  };
  if (r.hugepage_limits?.length) {
    out.hugepageLimits = r.hugepage_limits.map((h) => {
      if (!/^[0-9]+[KMG]B$/.test(h.page_size)) throw new InvalidArgumentError(`hugepage page size "${h.page_size}" is not like 2MB or 1GB`);
      return { pageSize: h.page_size, limit: BigInt(h.limit || '0') };
    });
  }
  if (r.unified && Object.keys(r.unified).length > 0) {
    for (const key of Object.keys(r.unified)) {
      if (key.includes('/') || key.startsWith('.')) throw new InvalidArgumentError(`unified cgroup key "${key}" is not a file name`);
    }
    out.unified = { ...r.unified };
  }
  return out;
}

function add(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (a < 0n || b < 0n) return -1n;
  return a + b;
}

/** A limit raised by the overhead; no limit (unbounded) stays none, whatever the overhead. */
function addToLimit(limit: bigint | undefined, overhead: bigint | undefined): bigint | undefined {
  return limit === undefined ? undefined : add(limit, overhead);
}

/**
 * The pod cgroup's limits: the containers' sum plus the pod overhead. Quotas are added at a
 * common period so the rates add up. Shares (requests) always take the overhead; a limit
 * only when the containers have one, as kubelet sizes pod cgroups.
 */
export function podResources(resources: CgroupResources, overhead: CgroupResources): CgroupResources {
  const period = resources.cpuPeriod ?? overhead.cpuPeriod;
  const scaled = (r: CgroupResources) => (r.cpuQuota !== undefined && period !== undefined ? (r.cpuQuota * period) / (r.cpuPeriod ?? period) : r.cpuQuota);
  return {
    cpuShares: add(resources.cpuShares, overhead.cpuShares),
    cpuQuota: addToLimit(scaled(resources), scaled(overhead)),
    cpuPeriod: period,
    memoryLimit: addToLimit(resources.memoryLimit, overhead.memoryLimit),
    memorySwapLimit: addToLimit(resources.memorySwapLimit, overhead.memorySwapLimit),
    cpusetCpus: resources.cpusetCpus ?? overhead.cpusetCpus,
    cpusetMems: resources.cpusetMems ?? overhead.cpusetMems,
    hugepageLimits: resources.hugepageLimits ?? overhead.hugepageLimits,
    unified: resources.unified || overhead.unified ? { ...overhead.unified, ...resources.unified } : undefined,
  };
}

/** One file write: on v1 `controller` names the hierarchy; on v2 it is the file's prefix. */
export interface CgroupWrite {
  controller: string;
  file: string;
  value: string;
}

/** v1 files, in the order the kernel accepts them (period before quota, memory before memsw). */
export function v1Writes(r: CgroupResources): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  if (r.cpuShares !== undefined) w.push({ controller: 'cpu', file: 'cpu.shares', value: String(r.cpuShares) });
  if (r.cpuPeriod !== undefined) w.push({ controller: 'cpu', file: 'cpu.cfs_period_us', value: String(r.cpuPeriod) });
  if (r.cpuQuota !== undefined) w.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(r.cpuQuota) });
  if (r.cpusetCpus !== undefined) w.push({ controller: 'cpuset', file: 'cpuset.cpus', value: r.cpusetCpus });
  if (r.cpusetMems !== undefined) w.push({ controller: 'cpuset', file: 'cpuset.mems', value: r.cpusetMems });
  if (r.memoryLimit !== undefined) w.push({ controller: 'memory', file: 'memory.limit_in_bytes', value: String(r.memoryLimit) });
  if (r.memorySwapLimit !== undefined) w.push({ controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(r.memorySwapLimit) });
  for (const h of r.hugepageLimits ?? []) w.push({ controller: 'hugetlb', file: `hugetlb.${h.pageSize}.limit_in_bytes`, value: String(h.limit) });
  return w;
}

/** cgroup v1 cpu.shares [2, 262144] onto v2 cpu.weight [1, 10000], the conversion runc uses. */
export function sharesToWeight(shares: bigint): bigint {
  if (shares === 0n) return 0n;
  return 1n + ((shares - 2n) * 9999n) / 262142n;
}

export function v2Writes(r: CgroupResources): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  if (r.cpuShares !== undefined) w.push({ controller: 'cpu', file: 'cpu.weight', value: String(sharesToWeight(r.cpuShares)) });
  if (r.cpuQuota !== undefined || r.cpuPeriod !== undefined) {
    w.push({ controller: 'cpu', file: 'cpu.max', value: `${r.cpuQuota !== undefined ? r.cpuQuota : 'max'} ${r.cpuPeriod ?? 100000n}` });
  }
  if (r.cpusetCpus !== undefined) w.push({ controller: 'cpuset', file: 'cpuset.cpus', value: r.cpusetCpus });
  if (r.cpusetMems !== undefined) w.push({ controller: 'cpuset', file: 'cpuset.mems', value: r.cpusetMems });
  if (r.memoryLimit !== undefined) w.push({ controller: 'memory', file: 'memory.max', value: String(r.memoryLimit) });
  if (r.memorySwapLimit !== undefined) {
    // v2 limits swap alone; CRI speaks v1's memory+swap.
    let swap: string | undefined;
    if (r.memorySwapLimit < 0n) swap = 'max';
    else if (r.memoryLimit !== undefined && r.memorySwapLimit >= r.memoryLimit) swap = String(r.memorySwapLimit - r.memoryLimit);
    if (swap !== undefined) w.push({ controller: 'memory', file: 'memory.swap.max', value: swap });
  }
  for (const h of r.hugepageLimits ?? []) w.push({ controller: 'hugetlb', file: `hugetlb.${h.pageSize}.max`, value: String(h.limit) });
  for (const [file, value] of Object.entries(r.unified ?? {})) w.push({ controller: file.split('.')[0]!, file, value });
  return w;
}
