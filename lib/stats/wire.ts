/** CRI stats messages from samples. int64 values travel as decimal strings. */
import type { ContainerStats } from '../generated/runtime/v1/ContainerStats.js';
import type { CpuUsage } from '../generated/runtime/v1/CpuUsage.js';
import type { MemoryUsage } from '../generated/runtime/v1/MemoryUsage.js';
import type { NetworkUsage } from '../generated/runtime/v1/NetworkUsage.js';
import type { PodSandboxStats } from '../generated/runtime/v1/PodSandboxStats.js';
import type { PsiStats } from '../generated/runtime/v1/PsiStats.js';
import type { UInt64Value } from '../generated/runtime/v1/UInt64Value.js';
import type { CgroupStats, Psi } from './cgroup-stats.js';
import type { ContainerSample, PodSample } from './sample.js';

const u64 = (value: bigint): UInt64Value => ({ value: value.toString() });
const opt = (value: bigint | undefined): UInt64Value | null => (value === undefined ? null : u64(value));

function psiWire(psi: Psi | undefined): PsiStats | null {
  if (!psi) return null;
  const data = (d: Psi['some']) => (d ? { Total: d.total.toString(), Avg10: d.avg10, Avg60: d.avg60, Avg300: d.avg300 } : null);
  return { Some: data(psi.some), Full: data(psi.full) };
}

/** Absent counters read as zero: a created container whose cgroup is still empty has used nothing. */
function cpuWire(stats: CgroupStats, rate: bigint | undefined, at: string): CpuUsage {
  return { timestamp: at, usage_core_nano_seconds: u64(stats.cpuUsageNs ?? 0n), usage_nano_cores: opt(rate), psi: psiWire(stats.cpuPsi) };
}

function memoryWire(stats: CgroupStats, at: string): MemoryUsage {
  const m = stats.memory;
  if (!m) return { timestamp: at, working_set_bytes: u64(0n), usage_bytes: u64(0n), rss_bytes: u64(0n), page_faults: u64(0n), major_page_faults: u64(0n) };
  const available = m.limitBytes === undefined ? undefined : (m.limitBytes > m.workingSetBytes ? m.limitBytes - m.workingSetBytes : 0n);
  return {
    timestamp: at,
    working_set_bytes: u64(m.workingSetBytes),
    available_bytes: opt(available),
    usage_bytes: u64(m.usageBytes),
    rss_bytes: u64(m.rssBytes),
    page_faults: u64(m.pageFaults),
    major_page_faults: u64(m.majorPageFaults),
    psi: psiWire(m.psi),
  };
}

export function containerStatsWire(s: ContainerSample): ContainerStats {
  const at = s.atNs.toString();
  const c = s.container;
  const stats: ContainerStats = {
    attributes: { id: c.id, metadata: { name: c.metadata.name, attempt: c.metadata.attempt }, labels: c.labels, annotations: c.annotations },
    cpu: cpuWire(s.cgroup, s.cpuRate, at),
    memory: memoryWire(s.cgroup, at),
  };
  const swap = s.cgroup.swap;
  if (swap) {
    const available = swap.limitBytes === undefined ? undefined : (swap.limitBytes > swap.usageBytes ? swap.limitBytes - swap.usageBytes : 0n);
    stats.swap = { timestamp: at, swap_usage_bytes: u64(swap.usageBytes), swap_available_bytes: opt(available) };
  }
  if (s.cgroup.ioPsi) stats.io = { timestamp: at, psi: psiWire(s.cgroup.ioPsi) };
  if (s.disk) {
    stats.writable_layer = {
      timestamp: s.disk.atNs.toString(),
      fs_id: { mountpoint: s.disk.mountpoint },
      used_bytes: u64(s.disk.bytes),
      inodes_used: u64(s.disk.inodes),
    };
  }
  return stats;
}

export function podStatsWire(s: PodSample): PodSandboxStats {
  const at = s.atNs.toString();
  const p = s.pod;
  let network: NetworkUsage | null = null;
  if (s.network) {
    const interfaces = s.network.interfaces.map((i) => ({ name: i.name, rx_bytes: u64(i.rxBytes), rx_errors: u64(i.rxErrors), tx_bytes: u64(i.txBytes), tx_errors: u64(i.txErrors) }));
    network = { timestamp: s.network.atNs.toString(), default_interface: interfaces.find((i) => i.name === 'eth0') ?? interfaces[0] ?? null, interfaces };
  }
  return {
    attributes: { id: p.id, metadata: p.metadata, labels: p.labels, annotations: p.annotations },
    linux: {
      cpu: cpuWire(s.cgroup, s.cpuRate, at),
      memory: memoryWire(s.cgroup, at),
      network,
      process: s.cgroup.pids === undefined ? null : { timestamp: at, process_count: u64(s.cgroup.pids) },
      containers: s.containers.map(containerStatsWire),
      io: s.cgroup.ioPsi ? { timestamp: at, psi: psiWire(s.cgroup.ioPsi) } : null,
    },
  };
}
