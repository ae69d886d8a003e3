import type { LinuxContainerResources__Output } from '../../generated/runtime/v1/LinuxContainerResources.js';
import { InvalidArgumentError } from '../../errors/index.js';
import type { OciResources } from '../../oci/types.js';
import { clampOomScoreAdj } from '../../config/index.js';

function int(value: string | undefined, field: string): number | undefined {
  if (value === undefined || value === '' || value === '0') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${field} ${value} is out of range`);
  return n;
}

/** The OCI resources of CRI `LinuxContainerResources`; zero means "not set", as in CRI. */
export function ociResources(r: LinuxContainerResources__Output | null | undefined, opts: { pidsLimit: number; cgroupV2: boolean }): OciResources {
  const out: OciResources = {};
  if (r) {
    const cpu = {
      shares: int(r.cpu_shares, 'cpu_shares'),
      quota: int(r.cpu_quota, 'cpu_quota'),
      period: int(r.cpu_period, 'cpu_period'),
      cpus: r.cpuset_cpus || undefined,
      mems: r.cpuset_mems || undefined,
    };
    if (Object.values(cpu).some((v) => v !== undefined)) out.cpu = dropUndefined(cpu);
    const limit = int(r.memory_limit_in_bytes, 'memory_limit_in_bytes');
    const swap = int(r.memory_swap_limit_in_bytes, 'memory_swap_limit_in_bytes');
    if (limit !== undefined || swap !== undefined) out.memory = dropUndefined({ limit, swap });
    if (r.hugepage_limits.length > 0) {
      out.hugepageLimits = r.hugepage_limits.map((h) => ({ pageSize: h.page_size, limit: int(h.limit, `hugepage limit ${h.page_size}`) ?? 0 }));
    }
    if (Object.keys(r.unified).length > 0) {
      if (!opts.cgroupV2) throw new InvalidArgumentError('unified cgroup resources need cgroup v2, and this host uses cgroup v1');
      out.unified = { ...r.unified };
    }
  }
  if (opts.pidsLimit > 0) out.pids = { limit: opts.pidsLimit };
  return out;
}

export function oomScoreAdj(r: LinuxContainerResources__Output | null | undefined, restriction: { restricted: boolean; own: number }): number | undefined {
  if (!r) return undefined;
  const requested = Number(r.oom_score_adj || '0');
  if (!Number.isInteger(requested) || requested < -1000 || requested > 1000) throw new InvalidArgumentError(`oom_score_adj ${r.oom_score_adj} is outside -1000..1000`);
  return clampOomScoreAdj(requested, restriction);
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
