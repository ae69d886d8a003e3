/**
 * ListMetricDescriptors / ListPodSandboxMetrics: cAdvisor-named metrics, so kubelet's
 * `/metrics/cadvisor` keeps its names when it reads them from the runtime. Grouped as cri-o's
 * `included_pod_metrics` groups.
 */
import type { ContainerMetrics } from '../generated/runtime/v1/ContainerMetrics.js';
import type { Metric } from '../generated/runtime/v1/Metric.js';
import type { MetricDescriptor } from '../generated/runtime/v1/MetricDescriptor.js';
import type { PodSandboxMetrics } from '../generated/runtime/v1/PodSandboxMetrics.js';
import { InvalidArgumentError } from '../errors/index.js';
import type { InterfaceCounters } from './netdev.js';
import type { ContainerSample, PodSample } from './sample.js';

export const METRIC_GROUPS = ['cpu', 'memory', 'network', 'oom', 'disk', 'process'] as const;
export type MetricGroup = (typeof METRIC_GROUPS)[number];

/** The labels cAdvisor puts on every container series. */
const BASE_LABELS = ['container', 'id', 'image', 'name', 'namespace', 'pod'];

interface Definition {
  name: string;
  help: string;
  group: MetricGroup;
  type: 'COUNTER' | 'GAUGE';
  /** Pod-level (network) metrics come from the sandbox; the others from each container. */
  scope: 'container' | 'pod';
  extraLabels: string[];
}

const DEFINITIONS: Definition[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', group: 'cpu', type: 'COUNTER', scope: 'container', extraLabels: [] },
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed.', group: 'memory', type: 'GAUGE', scope: 'container', extraLabels: [] },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', group: 'memory', type: 'GAUGE', scope: 'container', extraLabels: [] },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', group: 'memory', type: 'GAUGE', scope: 'container', extraLabels: [] },
  { name: 'container_memory_swap', help: 'Container swap usage in bytes.', group: 'memory', type: 'GAUGE', scope: 'container', extraLabels: [] },
  { name: 'container_spec_memory_limit_bytes', help: 'Memory limit for the container.', group: 'memory', type: 'GAUGE', scope: 'container', extraLabels: [] },
  { name: 'container_memory_failures_total', help: 'Cumulative count of memory allocation failures.', group: 'memory', type: 'COUNTER', scope: 'container', extraLabels: ['failure_type', 'scope'] },
  { name: 'container_network_receive_bytes_total', help: 'Cumulative count of bytes received.', group: 'network', type: 'COUNTER', scope: 'pod', extraLabels: ['interface'] },
  { name: 'container_network_receive_errors_total', help: 'Cumulative count of errors encountered while receiving.', group: 'network', type: 'COUNTER', scope: 'pod', extraLabels: ['interface'] },
  { name: 'container_network_transmit_bytes_total', help: 'Cumulative count of bytes transmitted.', group: 'network', type: 'COUNTER', scope: 'pod', extraLabels: ['interface'] },
  { name: 'container_network_transmit_errors_total', help: 'Cumulative count of errors encountered while transmitting.', group: 'network', type: 'COUNTER', scope: 'pod', extraLabels: ['interface'] },
  { name: 'container_oom_events_total', help: 'Count of out of memory events observed for the container.', group: 'oom', type: 'COUNTER', scope: 'container', extraLabels: [] },
  { name: 'container_fs_usage_bytes', help: 'Number of bytes that are consumed by the container on this filesystem.', group: 'disk', type: 'GAUGE', scope: 'container', extraLabels: ['device'] },
  { name: 'container_fs_inodes_total', help: 'Number of inodes used by the container on this filesystem.', group: 'disk', type: 'GAUGE', scope: 'container', extraLabels: ['device'] },
  { name: 'container_processes', help: 'Number of processes running inside the container.', group: 'process', type: 'GAUGE', scope: 'container', extraLabels: [] },
];

/** Validates a configured group list (as cri-o's `included_pod_metrics`). */
export function parseMetricGroups(groups: readonly string[]): Set<MetricGroup> {
  const unknown = groups.filter((g) => !(METRIC_GROUPS as readonly string[]).includes(g));
  if (unknown.length > 0) throw new InvalidArgumentError(`config: metrics.included_pod_metrics: unknown group(s) ${unknown.join(', ')} (have ${METRIC_GROUPS.join(', ')})`);
  return new Set(groups as MetricGroup[]);
}

export function metricDescriptors(groups: ReadonlySet<MetricGroup>): MetricDescriptor[] {
  return DEFINITIONS.filter((d) => groups.has(d.group)).map((d) => ({ name: d.name, help: d.help, label_keys: [...BASE_LABELS, ...d.extraLabels] }));
}

class MetricList {
  readonly metrics: Metric[] = [];
  constructor(private readonly groups: ReadonlySet<MetricGroup>, private readonly at: string, private readonly base: string[]) {}

  add(def: Definition, value: bigint | undefined, extra: string[] = []): void {
    if (value === undefined || !this.groups.has(def.group)) return;
    this.metrics.push({ name: def.name, timestamp: this.at, metric_type: def.type, label_values: [...this.base, ...extra], value: { value: value.toString() } });
  }
}

const def = (name: string): Definition => DEFINITIONS.find((d) => d.name === name)!;

function containerMetrics(s: ContainerSample, pod: PodSample, groups: ReadonlySet<MetricGroup>): ContainerMetrics {
  const c = s.container;
  const p = pod.pod;
  const list = new MetricList(groups, s.atNs.toString(), [c.metadata.name, c.id, c.image, c.id, p.metadata.namespace, p.metadata.name]);
  const cg = s.cgroup;
  // cAdvisor exports fractional seconds; a CRI metric value is an integer, so whole seconds (as cri-o sends)
  list.add(def('container_cpu_usage_seconds_total'), cg.cpuUsageNs === undefined ? undefined : cg.cpuUsageNs / 1_000_000_000n);
  list.add(def('container_memory_usage_bytes'), cg.memory?.usageBytes);
  list.add(def('container_memory_working_set_bytes'), cg.memory?.workingSetBytes);
  list.add(def('container_memory_rss'), cg.memory?.rssBytes);
  list.add(def('container_memory_swap'), cg.swap?.usageBytes);
  list.add(def('container_spec_memory_limit_bytes'), cg.memory ? (cg.memory.limitBytes ?? 0n) : undefined);
  if (cg.memory) {
    const minor = cg.memory.pageFaults > cg.memory.majorPageFaults ? cg.memory.pageFaults - cg.memory.majorPageFaults : 0n;
    list.add(def('container_memory_failures_total'), minor, ['pgfault', 'container']);
    list.add(def('container_memory_failures_total'), cg.memory.majorPageFaults, ['pgmajfault', 'container']);
  }
  list.add(def('container_oom_events_total'), cg.oomKills ?? cg.oomEvents);
  if (s.disk) {
    list.add(def('container_fs_usage_bytes'), s.disk.bytes, [s.disk.mountpoint]);
    list.add(def('container_fs_inodes_total'), s.disk.inodes, [s.disk.mountpoint]);
  }
  list.add(def('container_processes'), cg.pids);
  return { container_id: c.id, metrics: list.metrics };
}

function networkMetrics(pod: PodSample, groups: ReadonlySet<MetricGroup>): Metric[] {
  if (!pod.network) return [];
  const p = pod.pod;
  // the sandbox is cAdvisor's "POD" container: the network belongs to it
  const list = new MetricList(groups, pod.network.atNs.toString(), ['POD', p.id, '', p.id, p.metadata.namespace, p.metadata.name]);
  const add = (name: string, pick: (i: InterfaceCounters) => bigint) => {
    for (const i of pod.network!.interfaces) list.add(def(name), pick(i), [i.name]);
  };
  add('container_network_receive_bytes_total', (i) => i.rxBytes);
  add('container_network_receive_errors_total', (i) => i.rxErrors);
  add('container_network_transmit_bytes_total', (i) => i.txBytes);
  add('container_network_transmit_errors_total', (i) => i.txErrors);
  return list.metrics;
}

export function podSandboxMetrics(pod: PodSample, groups: ReadonlySet<MetricGroup>): PodSandboxMetrics {
  return {
    pod_sandbox_id: pod.pod.id,
    metrics: networkMetrics(pod, groups),
    container_metrics: pod.containers.map((c) => containerMetrics(c, pod, groups)),
  };
}
