/**
 * ListContainerStats, encoded by hand. kubelet asks for every container's stats every few
 * seconds; building the generic message objects (every counter a decimal string in a wrapper
 * object, turned back into a Long by the encoder) cost more than reading the cgroups. Here the
 * samples are written straight to protobuf bytes, and each container's attributes (ID,
 * metadata, labels, annotations: fixed for its life) are encoded once, by the generic encoder,
 * and spliced in. The bytes are those the generic encoder gives for the message
 * lib/stats/wire.ts builds from the same sample; test/unit/stats-encoding.test.ts holds them
 * to that. Field numbers are protos/runtime/v1/api.proto's.
 */
import type { ContainerSample } from '../stats/index.js';
import type { CgroupStats, Psi, PsiData } from '../stats/cgroup-stats.js';
import { loadCriProto } from './proto.js';
import { ProtoWriter } from './proto-writer.js';

const enum F {
  // ListContainerStatsResponse
  stats = 1,
  // ContainerStats
  attributes = 1, cpu = 2, memory = 3, writableLayer = 4, swap = 5, io = 6,
  // every *Usage message
  timestamp = 1,
  // CpuUsage
  usageCoreNanoSeconds = 2, usageNanoCores = 3, cpuPsi = 4,
  // MemoryUsage
  workingSetBytes = 2, availableBytes = 3, usageBytes = 4, rssBytes = 5, pageFaults = 6, majorPageFaults = 7, memoryPsi = 8,
  // SwapUsage
  swapAvailableBytes = 2, swapUsageBytes = 3,
  // IoUsage
  ioPsi = 2,
  // FilesystemUsage, FilesystemIdentifier
  fsId = 2, usedBytes = 3, inodesUsed = 4, mountpoint = 1,
  // UInt64Value
  value = 1,
  // PsiStats, PsiData
  full = 1, some = 2, total = 1, avg10 = 2, avg60 = 3, avg300 = 4,
}

const clampSub = (a: bigint, b: bigint): bigint => (a > b ? a - b : 0n);

function u64(w: ProtoWriter, field: number, value: bigint): void {
  w.begin(field);
  w.uint64(F.value, value);
  w.end();
}

function psiData(w: ProtoWriter, field: number, d: PsiData | undefined): void {
  if (!d) return;
  w.begin(field);
  w.uint64(F.total, d.total);
  w.double(F.avg10, d.avg10);
  w.double(F.avg60, d.avg60);
  w.double(F.avg300, d.avg300);
  w.end();
}

function psi(w: ProtoWriter, field: number, p: Psi | undefined): void {
  if (!p) return;
  w.begin(field);
  psiData(w, F.full, p.full);
  psiData(w, F.some, p.some);
  w.end();
}

function cpu(w: ProtoWriter, stats: CgroupStats, rate: bigint | undefined, at: bigint): void {
  w.begin(F.cpu);
  w.uint64(F.timestamp, at);
  u64(w, F.usageCoreNanoSeconds, stats.cpuUsageNs ?? 0n);
  if (rate !== undefined) u64(w, F.usageNanoCores, rate);
  psi(w, F.cpuPsi, stats.cpuPsi);
  w.end();
}

function memory(w: ProtoWriter, stats: CgroupStats, at: bigint): void {
  const m = stats.memory;
  w.begin(F.memory);
  w.uint64(F.timestamp, at);
  u64(w, F.workingSetBytes, m?.workingSetBytes ?? 0n);
  if (m?.limitBytes !== undefined) u64(w, F.availableBytes, clampSub(m.limitBytes, m.workingSetBytes));
  u64(w, F.usageBytes, m?.usageBytes ?? 0n);
  u64(w, F.rssBytes, m?.rssBytes ?? 0n);
  u64(w, F.pageFaults, m?.pageFaults ?? 0n);
  u64(w, F.majorPageFaults, m?.majorPageFaults ?? 0n);
  psi(w, F.memoryPsi, m?.psi);
  w.end();
}

function containerStats(w: ProtoWriter, s: ContainerSample, attributes: Buffer): void {
  w.raw(attributes);
  cpu(w, s.cgroup, s.cpuRate, s.atNs);
  memory(w, s.cgroup, s.atNs);
  if (s.disk) {
    w.begin(F.writableLayer);
    w.uint64(F.timestamp, s.disk.atNs);
    w.begin(F.fsId);
    w.string(F.mountpoint, s.disk.mountpoint);
    w.end();
    u64(w, F.usedBytes, s.disk.bytes);
    u64(w, F.inodesUsed, s.disk.inodes);
    w.end();
  }
  const swap = s.cgroup.swap;
  if (swap) {
    w.begin(F.swap);
    w.uint64(F.timestamp, s.atNs);
    if (swap.limitBytes !== undefined) u64(w, F.swapAvailableBytes, clampSub(swap.limitBytes, swap.usageBytes));
    u64(w, F.swapUsageBytes, swap.usageBytes);
    w.end();
  }
  if (s.cgroup.ioPsi) {
    w.begin(F.io);
    w.uint64(F.timestamp, s.atNs);
    psi(w, F.ioPsi, s.cgroup.ioPsi);
    w.end();
  }
}

/** Skips a length-delimited field's tag (one byte here) and its length varint. */
function afterFieldHeader(bytes: Buffer): number {
  let at = 1;
  while (bytes[at]! & 0x80) at++;
  return at + 1;
}

/** Past this many remembered attribute encodings per listed container, those not listed are dropped. */
const ATTRIBUTE_CACHE_SLACK = 2;

export class ContainerStatsEncoder {
  private readonly writer = new ProtoWriter();
  /** Per container ID: its ContainerStats.attributes field (tag, length and message). */
  private readonly attributes = new Map<string, Buffer>();

  private attributesOf(s: ContainerSample): Buffer {
    const c = s.container;
    let bytes = this.attributes.get(c.id);
    if (!bytes) {
      const serialize = loadCriProto().runtime.v1.RuntimeService.service.ListContainerStats!.responseSerialize;
      const whole = serialize({ stats: [{ attributes: { id: c.id, metadata: { name: c.metadata.name, attempt: c.metadata.attempt }, labels: c.labels, annotations: c.annotations } }] });
      // `stats` (field 1) holding one ContainerStats whose only field is `attributes`: keep the inner field.
      bytes = Buffer.from(whole.subarray(afterFieldHeader(whole)));
      this.attributes.set(c.id, bytes);
    }
    return bytes;
  }

  /** A ListContainerStatsResponse carrying these samples, in order. */
  encodeList(samples: readonly ContainerSample[]): Buffer {
    const w = this.writer;
    w.reset();
    for (const s of samples) {
      w.begin(F.stats);
      containerStats(w, s, this.attributesOf(s));
      w.end();
    }
    if (this.attributes.size > ATTRIBUTE_CACHE_SLACK * samples.length + 16) {
      const listed = new Set(samples.map((s) => s.container.id));
      for (const id of this.attributes.keys()) if (!listed.has(id)) this.attributes.delete(id);
    }
    return w.finish();
  }
}
