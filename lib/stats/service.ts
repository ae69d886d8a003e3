import type { ContainerStats } from '../generated/runtime/v1/ContainerStats.js';
import type { MetricDescriptor } from '../generated/runtime/v1/MetricDescriptor.js';
import type { PodSandboxMetrics } from '../generated/runtime/v1/PodSandboxMetrics.js';
import type { PodSandboxStats } from '../generated/runtime/v1/PodSandboxStats.js';
import { matchesLabels } from '../util/ids.js';
import { nowNanos } from '../util/time.js';
import type { ContainerEventBus } from './events.js';
import type { MetricsRecorder, StateCounts } from './recorder.js';
import { metricDescriptors, parseMetricGroups, podSandboxMetrics, type MetricGroup } from './pod-metrics.js';
import { Sampler, type ContainerSample, type PodSample } from './sample.js';
import type { CgroupFiles, ContainerSource, PodSource, StatsContainer } from './sources.js';
import { containerStatsWire, podStatsWire } from './wire.js';

export interface ContainerStatsFilter {
  id?: string;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

export interface PodStatsFilter {
  id?: string;
  labelSelector?: Record<string, string>;
}

export interface StatsDeps {
  cgroups: CgroupFiles;
  pods: PodSource;
  containers: ContainerSource;
  metrics: MetricsRecorder;
  events: ContainerEventBus;
  /** cri-o's `included_pod_metrics`: which groups ListPodSandboxMetrics reports. */
  includedPodMetrics: readonly string[];
  now?: () => bigint;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/** The stats RPCs: samples cgroups, writable layers and pod networks on demand. */
export class StatsService {
  private readonly sampler: Sampler;
  private readonly groups: ReadonlySet<MetricGroup>;

  constructor(private readonly deps: StatsDeps) {
    this.sampler = new Sampler(deps.cgroups, deps.now ?? nowNanos);
    this.groups = parseMetricGroups(deps.includedPodMetrics);
    deps.metrics.setSources({ stateCounts: () => this.stateCounts(), subscriberCount: () => deps.events.subscriberCount });
  }

  private allContainers(): StatsContainer[] {
    return this.deps.containers.list();
  }

  private stateCounts(): StateCounts {
    return {
      pods: countBy(this.deps.pods.list(), (p) => p.state),
      containers: countBy(this.allContainers(), (c) => c.state),
    };
  }

  async containerStats(idOrPrefix: string): Promise<ContainerStats> {
    return containerStatsWire(await this.sampler.container(this.deps.containers.get(idOrPrefix)));
  }

  /** Unknown IDs in the filter give an empty list, not an error, as the List calls promise. */
  async listContainerStats(filter: ContainerStatsFilter = {}): Promise<ContainerStats[]> {
    return (await this.listContainerSamples(filter)).map(containerStatsWire);
  }

  /** The samples behind listContainerStats, for a caller that encodes them itself. */
  async listContainerSamples(filter: ContainerStatsFilter = {}): Promise<ContainerSample[]> {
    const all = this.allContainers();
    const wanted = all.filter((c) =>
      (!filter.id || c.id.startsWith(filter.id)) &&
      (!filter.podSandboxId || c.podId.startsWith(filter.podSandboxId)) &&
      matchesLabels(c.labels, filter.labelSelector));
    const samples = await this.sampler.containers(wanted);
    if (!filter.id && !filter.podSandboxId && !filter.labelSelector) this.sampler.retain(this.deps.pods.list(), all);
    return samples;
  }

  private containersOf(all: readonly StatsContainer[] = this.allContainers()): (podId: string) => StatsContainer[] {
    const byPod = new Map<string, StatsContainer[]>();
    for (const c of all) {
      const list = byPod.get(c.podId);
      if (list) list.push(c);
      else byPod.set(c.podId, [c]);
    }
    return (podId) => byPod.get(podId) ?? [];
  }

  async podStats(idOrPrefix: string): Promise<PodSandboxStats> {
    const pod = this.deps.pods.get(idOrPrefix);
    const [sample] = await this.sampler.pods([pod], this.containersOf());
    return podStatsWire(sample!);
  }

  async listPodStats(filter: PodStatsFilter = {}): Promise<PodSandboxStats[]> {
    return (await this.listPodSamples(filter)).map(podStatsWire);
  }

  /** The samples behind listPodStats, for a caller that encodes them itself. */
  async listPodSamples(filter: PodStatsFilter = {}): Promise<PodSample[]> {
    const all = this.deps.pods.list();
    const wanted = all.filter((p) => (!filter.id || p.id.startsWith(filter.id)) && matchesLabels(p.labels, filter.labelSelector));
    const containers = this.allContainers();
    const samples = await this.sampler.pods(wanted, this.containersOf(containers));
    if (!filter.id && !filter.labelSelector) this.sampler.retain(all, containers);
    return samples;
  }

  metricDescriptors(): MetricDescriptor[] {
    return metricDescriptors(this.groups);
  }

  async podMetrics(): Promise<PodSandboxMetrics[]> {
    const pods = this.deps.pods.list().filter((p) => p.state === 'SANDBOX_READY');
    const samples = await this.sampler.pods(pods, this.containersOf(), 'all');
    return samples.map((s) => podSandboxMetrics(s, this.groups));
  }
}
