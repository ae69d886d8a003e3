/**
 * ListContainerStats and ListPodSandboxStats, encoded by hand. kubelet asks for every container's stats every few
 * seconds; building the generic message objects (every counter a decimal string in a wrapper
 * object, turned back into a Long by the encoder) cost more than reading the cgroups. Here the
 * samples are written straight to protobuf bytes, and each container's and pod's attributes (ID,
 * metadata, labels, annotations: fixed for its life) are encoded once, by the generic encoder,
 * and spliced in. The bytes are those the generic encoder gives for the messages
 * lib/stats/wire.ts builds from the same samples; test/unit/stats-encoding.test.ts holds them
 * to that. Field numbers are protos/runtime/v1/api.proto's.
 */
import type { ContainerSample, PodSample } from '../stats/index.js';
import type { CgroupStats, Psi, PsiData } from '../stats/cgroup-stats.js';
import { loadCriProto } from './proto.js';
import { ProtoWriter } from './proto-writer.js';

type InterfaceCounters = NonNullable<PodSample['network']>['interfaces'][number];

const enum F {
  // ListContainerStatsResponse, ListPodSandboxStatsResponse
  stats = 1,
  // PodSandboxStats
  podAttributes = 1, linux = 2,
  // LinuxPodSandboxStats
  podCpu = 1, podMemory = 2, network = 3, process = 4, containers = 5, podIo = 6,
  // NetworkUsage, NetworkInterfaceUsage
  defaultInterface = 2, interfaces = 3, name = 1, rxBytes = 2, rxErrors = 3, txBytes = 4, txErrors = 5,
  // ProcessUsage
  processCount = 2,
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

function cpu(w: ProtoWriter, field: number, stats: CgroupStats, rate: bigint | undefined, at: bigint): void {
  w.begin(field);
  w.uint64(F.timestamp, at);
  u64(w, F.usageCoreNanoSeconds, stats.cpuUsageNs ?? 0n);
  if (rate !== undefined) u64(w, F.usageNanoCores, rate);
  psi(w, F.cpuPsi, stats.cpuPsi);
  w.end();
}

function memory(w: ProtoWriter, field: number, stats: CgroupStats, at: bigint): void {
  const m = stats.memory;
  w.begin(field);
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
  cpu(w, F.cpu, s.cgroup, s.cpuRate, s.atNs);
  memory(w, F.memory, s.cgroup, s.atNs);
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
  io(w, F.io, s.cgroup, s.atNs);
}

function io(w: ProtoWriter, field: number, stats: CgroupStats, at: bigint): void {
  if (!stats.ioPsi) return;
  w.begin(field);
  w.uint64(F.timestamp, at);
  psi(w, F.ioPsi, stats.ioPsi);
  w.end();
}

function networkInterface(w: ProtoWriter, field: number, i: InterfaceCounters): void {
  w.begin(field);
  w.string(F.name, i.name);
  u64(w, F.rxBytes, i.rxBytes);
  u64(w, F.rxErrors, i.rxErrors);
  u64(w, F.txBytes, i.txBytes);
  u64(w, F.txErrors, i.txErrors);
  w.end();
}

function network(w: ProtoWriter, n: NonNullable<PodSample['network']>): void {
  w.begin(F.network);
  w.uint64(F.timestamp, n.atNs);
  const byDefault = n.interfaces.find((i) => i.name === 'eth0') ?? n.interfaces[0];
  if (byDefault) networkInterface(w, F.defaultInterface, byDefault);
  for (const i of n.interfaces) networkInterface(w, F.interfaces, i);
  w.end();
}

/** Skips a length-delimited field's tag (one byte here) and its length varint. */
function afterFieldHeader(bytes: Buffer): number {
  let at = 1;
  while (bytes[at]! & 0x80) at++;
  return at + 1;
}

/** Past this many remembered attribute encodings per listed object, those not listed are dropped. */
const ATTRIBUTE_CACHE_SLACK = 2;

/** Each object's `attributes` field (tag, length and message) as the generic encoder writes it, kept by ID. */
class AttributeCache<T extends { id: string }> {
  private readonly bytes = new Map<string, Buffer>();

  constructor(private readonly encodeAlone: (item: T) => Buffer) {}

  of(item: T): Buffer {
    let bytes = this.bytes.get(item.id);
    if (!bytes) {
      const whole = this.encodeAlone(item);
      // `stats` (field 1) holding one message whose only field is `attributes`: keep the inner field.
      bytes = Buffer.from(whole.subarray(afterFieldHeader(whole)));
      this.bytes.set(item.id, bytes);
    }
    return bytes;
  }

  /** Drops the objects no longer listed, once the cache has grown well past the list. */
  trim(listed: readonly T[]): void {
    if (this.bytes.size <= ATTRIBUTE_CACHE_SLACK * listed.length + 16) return;
    const ids = new Set(listed.map((item) => item.id));
    for (const id of this.bytes.keys()) if (!ids.has(id)) this.bytes.delete(id);
  }
}

type Container = ContainerSample['container'];
type Pod = PodSample['pod'];

function containerAttributes(): AttributeCache<Container> {
  return new AttributeCache<Container>((c) => loadCriProto().runtime.v1.RuntimeService.service.ListContainerStats!.responseSerialize({
    stats: [{ attributes: { id: c.id, metadata: { name: c.metadata.name, attempt: c.metadata.attempt }, labels: c.labels, annotations: c.annotations } }],
  }));
}

export class ContainerStatsEncoder {
  private readonly writer = new ProtoWriter();
  private readonly attributes = containerAttributes();

  /** A ListContainerStatsResponse carrying these samples, in order. */
  encodeList(samples: readonly ContainerSample[]): Buffer {
    const w = this.writer;
    w.reset();
    for (const s of samples) {
      w.begin(F.stats);
      containerStats(w, s, this.attributes.of(s.container));
      w.end();
    }
    this.attributes.trim(samples.map((s) => s.container));
    return w.finish();
  }
}

export class PodStatsEncoder {
  private readonly writer = new ProtoWriter();
  private readonly pods = new AttributeCache<Pod>((p) => loadCriProto().runtime.v1.RuntimeService.service.ListPodSandboxStats!.responseSerialize({
    stats: [{ attributes: { id: p.id, metadata: p.metadata, labels: p.labels, annotations: p.annotations } }],
  }));
  private readonly containers = containerAttributes();

  /** A ListPodSandboxStatsResponse carrying these samples, in order. */
  encodeList(samples: readonly PodSample[]): Buffer {
    const w = this.writer;
    w.reset();
    for (const s of samples) {
      w.begin(F.stats);
      w.raw(this.pods.of(s.pod));
      w.begin(F.linux);
      cpu(w, F.podCpu, s.cgroup, s.cpuRate, s.atNs);
      memory(w, F.podMemory, s.cgroup, s.atNs);
      if (s.network) network(w, s.network);
      if (s.cgroup.pids !== undefined) {
        w.begin(F.process);
        w.uint64(F.timestamp, s.atNs);
        u64(w, F.processCount, s.cgroup.pids);
        w.end();
      }
      for (const c of s.containers) {
        w.begin(F.containers);
        containerStats(w, c, this.containers.of(c.container));
        w.end();
      }
      io(w, F.podIo, s.cgroup, s.atNs);
      w.end();
      w.end();
    }
    this.pods.trim(samples.map((s) => s.pod));
    this.containers.trim(samples.flatMap((s) => s.containers.map((c) => c.container)));
    return w.finish();
  }
}
