import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadCriProto } from '../../lib/server/proto.js';
import { ContainerStatsEncoder, PodStatsEncoder } from '../../lib/server/stats-encoding.js';
import { ProtoWriter } from '../../lib/server/proto-writer.js';
import { containerStatsWire, podStatsWire } from '../../lib/stats/wire.js';
import type { ContainerSample, PodSample } from '../../lib/stats/sample.js';
import type { StatsContainer, StatsPod } from '../../lib/stats/sources.js';

const method = loadCriProto().runtime.v1.RuntimeService.service.ListContainerStats!;
const generic = (samples: ContainerSample[]): Buffer => method.responseSerialize({ stats: samples.map(containerStatsWire) });

const AT = 1_800_000_000_123_456_789n;
const MAX_U64 = (1n << 64n) - 1n;

function container(id: string, extra: Partial<StatsContainer> = {}): StatsContainer {
  return {
    id, podId: 'pod', metadata: { name: `name-${id}`, attempt: 3 }, labels: { app: 'web', 'io.kubernetes.pod.name': 'p' },
    annotations: {}, state: 'CONTAINER_RUNNING', image: 'busybox', cgroupPath: `/kubepods/${id}`, upperDir: '', ...extra,
  };
}

const psi = { some: { total: 123_456n, avg10: 0.25, avg60: 1.5, avg300: 0 }, full: { total: 7n, avg10: 0, avg60: 0.01, avg300: 99.99 } };

/** Every optional part present and absent, values at the edges of their types. */
const samples: ContainerSample[] = [
  // a created container with an empty cgroup: no counters at all, no rate yet
  { container: container('a1'), atNs: AT, cgroup: {} },
  // v1 without swap accounting or limits
  {
    container: container('b2', { annotations: { note: 'ü'.repeat(100) } }), atNs: AT + 1n, cpuRate: 0n,
    cgroup: { cpuUsageNs: 2_500_000_000n, memory: { usageBytes: 104_857_600n, workingSetBytes: 83_886_080n, rssBytes: 62_914_560n, pageFaults: 12_345n, majorPageFaults: 0n } },
    disk: { bytes: 8_392_704n, inodes: 3n, atNs: AT - 5_000_000_000n, mountpoint: '/' },
  },
  // v1 with limits and swap, working set above the limit (available clamps at zero)
  {
    container: container('c3', { labels: {}, metadata: { name: '', attempt: 0 } }), atNs: AT + 2n, cpuRate: 1_999_999_999n,
    cgroup: {
      cpuUsageNs: MAX_U64, memory: { usageBytes: 300n, workingSetBytes: 300n, rssBytes: 0n, pageFaults: 1n, majorPageFaults: 1n, limitBytes: 200n },
      swap: { usageBytes: 5n, limitBytes: 4n }, pids: 4n, oomKills: 1n,
    },
  },
  // v2 with pressure everywhere, swap without a limit, a long annotation (multi-byte lengths)
  {
    container: container('d4', { annotations: { big: 'x'.repeat(20_000) } }), atNs: AT + 3n, cpuRate: 350_000_000n,
    cgroup: {
      cpuUsageNs: (1n << 53n) + 1n, cpuPsi: psi, ioPsi: { some: psi.some },
      memory: { usageBytes: 1n << 40n, workingSetBytes: 1n << 39n, rssBytes: 1n << 38n, pageFaults: 2n ** 32n, majorPageFaults: 2n ** 31n, limitBytes: 1n << 41n, psi: { full: psi.full } },
      swap: { usageBytes: 0n },
    },
    disk: { bytes: 0n, inodes: 0n, atNs: AT, mountpoint: '/var/lib/runcri/überlay' },
  },
];

describe('ListContainerStats encoded by hand', () => {
  it('gives the same bytes as the generic encoder for the message built from the same samples', () => {
    const encoder = new ContainerStatsEncoder();
    assert.deepEqual(encoder.encodeList(samples), generic(samples));
    for (const s of samples) assert.deepEqual(encoder.encodeList([s]), generic([s]), s.container.id);
    assert.deepEqual(encoder.encodeList([]), generic([]));
  });

  it('reuses a container\'s attributes but never its counters or timestamps', () => {
    const encoder = new ContainerStatsEncoder();
    const first = samples[1]!;
    encoder.encodeList([first]);
    const later: ContainerSample = { ...first, atNs: first.atNs + 10_000_000_000n, cgroup: { ...first.cgroup, cpuUsageNs: 9_000_000_000n } };
    const bytes = encoder.encodeList([later]);
    assert.deepEqual(bytes, generic([later]));
    const decoded = method.responseDeserialize(bytes) as { stats: { attributes: { id: string; annotations: Record<string, string> }; cpu: { timestamp: string; usage_core_nano_seconds: { value: string } } }[] };
    assert.equal(decoded.stats[0]!.attributes.id, 'b2');
    assert.equal(decoded.stats[0]!.attributes.annotations.note, 'ü'.repeat(100));
    assert.equal(decoded.stats[0]!.cpu.timestamp, (AT + 10_000_000_001n).toString());
    assert.equal(decoded.stats[0]!.cpu.usage_core_nano_seconds.value, '9000000000');
  });

  it('stays correct when containers come and go between calls', () => {
    const encoder = new ContainerStatsEncoder();
    const many = Array.from({ length: 40 }, (_, n): ContainerSample => ({ container: container(`m${n}`, { labels: { n: String(n) } }), atNs: AT, cgroup: { cpuUsageNs: BigInt(n) } }));
    assert.deepEqual(encoder.encodeList(many), generic(many));
    const fewer = many.slice(30);
    assert.deepEqual(encoder.encodeList(fewer), generic(fewer));
    assert.deepEqual(encoder.encodeList(many), generic(many));
  });
});

const podMethod = loadCriProto().runtime.v1.RuntimeService.service.ListPodSandboxStats!;
const genericPods = (pods: PodSample[]): Buffer => podMethod.responseSerialize({ stats: pods.map(podStatsWire) });

function pod(id: string): StatsPod {
  return { id, metadata: { name: `pod-${id}`, uid: `uid-${id}`, namespace: 'ns', attempt: 1 }, state: 'SANDBOX_READY', labels: { app: id }, annotations: { a: 'b' }, cgroupPath: `/kubepods/${id}`, namespacePaths: {} };
}

const eth0 = { name: 'eth0', rxBytes: 1234567n, rxErrors: 2n, txBytes: 765432n, txErrors: 0n };
const net1 = { name: 'net1', rxBytes: 1n << 60n, rxErrors: 0n, txBytes: 0n, txErrors: 1n };
const pods: PodSample[] = [
  // no cgroup figures, no network, no containers
  { pod: pod('p0'), atNs: AT, cgroup: {}, containers: [] },
  // everything: processes, pressure, two interfaces with eth0 not first, containers
  {
    pod: pod('p1'), atNs: AT + 7n, cpuRate: 12n, network: { atNs: AT + 8n, interfaces: [net1, eth0] }, containers: samples.slice(0, 3),
    cgroup: { cpuUsageNs: 99n, pids: 3n, ioPsi: psi, memory: { usageBytes: 9n, workingSetBytes: 8n, rssBytes: 7n, pageFaults: 6n, majorPageFaults: 5n, limitBytes: 100n } },
  },
  // a network without eth0: the first interface is the default; a namespace with none at all
  { pod: pod('p2'), atNs: AT, network: { atNs: AT, interfaces: [net1] }, cgroup: { pids: 0n }, containers: samples.slice(3) },
  { pod: pod('p3'), atNs: AT, network: { atNs: AT, interfaces: [] }, cgroup: {}, containers: [] },
];

describe('ListPodSandboxStats encoded by hand', () => {
  it('gives the same bytes as the generic encoder for the message built from the same samples', () => {
    const encoder = new PodStatsEncoder();
    assert.deepEqual(encoder.encodeList(pods), genericPods(pods));
    for (const p of pods) assert.deepEqual(encoder.encodeList([p]), genericPods([p]), p.pod.id);
    assert.deepEqual(encoder.encodeList([]), genericPods([]));
    assert.deepEqual(encoder.encodeList(pods), genericPods(pods), 'again, from the kept attributes');
  });
});

describe('ProtoWriter', () => {
  it('refuses a negative or too large unsigned value instead of writing wrong bytes', () => {
    const w = new ProtoWriter(16);
    assert.throws(() => w.uint64(1, -1n), RangeError);
    assert.throws(() => w.uint64(1, 1n << 64n), RangeError);
  });

  it('writes every 64-bit value as the varint the spec defines, across the 32-bit and 53-bit boundaries', () => {
    const varint = (value: bigint): number[] => {
      const bytes: number[] = [];
      while (value >= 0x80n) {
        bytes.push(Number(value & 0x7fn) | 0x80);
        value >>= 7n;
      }
      return [...bytes, Number(value)];
    };
    const values = [0n, 1n, 127n, 128n, 300n, (1n << 31n) - 1n, 1n << 31n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, (1n << 53n) + 1n, 1_764_650_000_123_456_789n, 1n << 63n, (1n << 64n) - 1n];
    for (const value of values) {
      const w = new ProtoWriter(4);
      w.uint64(1, value);
      assert.deepEqual([...w.finish()], [0x08, ...varint(value)], String(value));
    }
  });

  it('grows past its initial buffer, nested lengths included', () => {
    const w = new ProtoWriter(4);
    w.begin(1);
    w.string(1, 'y'.repeat(300));
    w.end();
    const out = w.finish();
    // field 1, length 303 (0xaf 0x02), then field 1, length 300 (0xac 0x02) and the text
    assert.deepEqual([...out.subarray(0, 6)], [0x0a, 0xaf, 0x02, 0x0a, 0xac, 0x02]);
    assert.equal(out.length, 306);
  });
});
