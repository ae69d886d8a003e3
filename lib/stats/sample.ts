import { controlFilesOf, readCgroupStats, type CgroupStats, type ControlFileReader, type StatsScope } from './cgroup-stats.js';
import { CpuRateTracker } from './cpu-rate.js';
import { DiskUsageCache, mountPointOf, type DiskUsage } from './disk-usage.js';
import { NetnsCounters, type InterfaceCounters } from './netdev.js';
import { KeptCgroupFiles, type CgroupRead } from './kept-files.js';
import { readMountInfo, type MountEntry } from '../mount/index.js';
import type { CgroupFiles, StatsContainer, StatsPod } from './sources.js';

export interface ContainerSample {
  container: StatsContainer;
  atNs: bigint;
  cgroup: CgroupStats;
  cpuRate?: bigint;
  disk?: LayerSample;
}

/** A writable layer's usage and the mount point of the filesystem it is on. */
export type LayerSample = DiskUsage & { mountpoint: string };

export interface PodSample {
  pod: StatsPod;
  atNs: bigint;
  cgroup: CgroupStats;
  cpuRate?: bigint;
  network?: { atNs: bigint; interfaces: InterfaceCounters[] };
  containers: ContainerSample[];
}

/** How old a writable layer's measurement grows before it is queued for a background re-walk (see DiskUsageCache). */
const WRITABLE_LAYER_TTL_MS = 2000;

/**
 * Reads cgroups, writable layers and network namespaces into samples, keeping the per-object
 * state the rates and caches need (previous CPU sample, last disk walk, netns → process).
 */
export class Sampler {
  private readonly rates = new CpuRateTracker();
  private readonly disk: DiskUsageCache;
  private readonly netns: NetnsCounters;
  /** Per writable layer: its last measurement with the mount point beside it, reused until the measurement changes. */
  private readonly layers = new Map<string, { usage: DiskUsage; sampled: LayerSample }>();
  private readonly cgroups: KeptCgroupFiles;

  constructor(cgroups: CgroupFiles, private readonly now: () => bigint) {
    this.cgroups = new KeptCgroupFiles(cgroups);
    this.disk = new DiskUsageCache(WRITABLE_LAYER_TTL_MS, now);
    this.netns = new NetnsCounters(now);
  }

  private cgroupRead(path: string, scope: StatsScope): CgroupRead {
    return { path, files: controlFilesOf(this.cgroups.layout.version, scope) };
  }

  /** A cgroup's stats from its files as a batch read them; none for an object without a cgroup. */
  private cgroupStats(path: string, read: ControlFileReader, scope: StatsScope): CgroupStats {
    return path ? readCgroupStats(this.cgroups.layout.version, read, scope) : {};
  }

  /** `scope` `all` for the pod metrics, which report containers' process and OOM counts too. */
  async container(c: StatsContainer, scope: StatsScope = 'usage'): Promise<ContainerSample> {
    return (await this.containers([c], scope))[0]!;
  }

  /**
   * Samples the containers, their cgroups read in one batch; only a writable layer never
   * measured before makes the answer wait, for its first walk.
   */
  async containers(list: readonly StatsContainer[], scope: StatsScope = 'usage'): Promise<ContainerSample[]> {
    const atNs = this.now();
    const readers = await this.cgroups.readBatch(list.map((c) => this.cgroupRead(c.cgroupPath, scope)));
    return this.containerSamples(list, readers, scope, atNs);
  }

  /** The containers' samples from their cgroup files, read at `atNs`, and their writable layers. */
  private async containerSamples(list: readonly StatsContainer[], readers: readonly ControlFileReader[], scope: StatsScope, atNs: bigint): Promise<ContainerSample[]> {
    const samples: ContainerSample[] = [];
    let firstWalks: Promise<void>[] | undefined;
    let mountinfo: MountEntry[] | undefined;
    const layerOf = (dir: string, usage: DiskUsage): LayerSample => {
      const known = this.layers.get(dir);
      if (known?.usage === usage) return known.sampled;
      // one read of the mount table for all the layers new to this pass
      const mountpoint = known?.sampled.mountpoint ?? mountPointOf(dir, (mountinfo ??= readMountInfo()));
      const sampled = { ...usage, mountpoint };
      this.layers.set(dir, { usage, sampled });
      return sampled;
    };
    list.forEach((c, i) => {
      const cgroup = this.cgroupStats(c.cgroupPath, readers[i]!, scope);
      const cpuRate = cgroup.cpuUsageNs === undefined ? undefined : this.rates.observe(c.id, cgroup.cpuUsageNs, atNs);
      const sample: ContainerSample = { container: c, atNs, cgroup, cpuRate, disk: undefined };
      samples.push(sample);
      if (!c.upperDir) return;
      const dir = c.upperDir;
      const usage = this.disk.current(dir);
      if (usage) {
        sample.disk = layerOf(dir, usage);
      } else {
        (firstWalks ??= []).push(this.disk.get(dir).then((first) => {
          sample.disk = layerOf(dir, first);
        }));
      }
    });
    if (firstWalks) await Promise.all(firstWalks);
    return samples;
  }

  /**
   * Pods with their containers (`containersOf` gives each pod's): the cgroups of all of them
   * in one batch, the network namespaces in one pass.
   */
  async pods(pods: readonly StatsPod[], containersOf: (podId: string) => StatsContainer[], containerScope: StatsScope = 'usage'): Promise<PodSample[]> {
    const netPaths = pods.map((p) => p.namespacePaths.net).filter((p): p is string => !!p);
    const counters = netPaths.length > 0 ? await this.netns.read(netPaths) : new Map<string, InterfaceCounters[]>();
    const netAt = this.now();
    const containers = pods.map((pod) => containersOf(pod.id));
    const atNs = this.now();
    const readers = await this.cgroups.readBatch([
      ...pods.map((pod) => this.cgroupRead(pod.cgroupPath, 'all')),
      ...containers.flat().map((c) => this.cgroupRead(c.cgroupPath, containerScope)),
    ]);
    let next = pods.length;
    const containerReaders = containers.map((own) => readers.slice(next, (next += own.length)));
    return Promise.all(pods.map(async (pod, i) => {
      const cgroup = this.cgroupStats(pod.cgroupPath, readers[i]!, 'all');
      const key = `pod:${pod.id}`;
      const cpuRate = cgroup.cpuUsageNs === undefined ? undefined : this.rates.observe(key, cgroup.cpuUsageNs, atNs);
      const interfaces = pod.namespacePaths.net ? counters.get(pod.namespacePaths.net) : undefined;
      const samples = await this.containerSamples(containers[i]!, containerReaders[i]!, containerScope, atNs);
      return { pod, atNs, cgroup, cpuRate, network: interfaces ? { atNs: netAt, interfaces } : undefined, containers: samples };
    }));
  }

  /** Forgets state of objects no longer present, after a full listing. */
  retain(pods: readonly StatsPod[], containers: readonly StatsContainer[]): void {
    this.rates.retain(new Set([...containers.map((c) => c.id), ...pods.map((p) => `pod:${p.id}`)]));
    const uppers = new Set(containers.map((c) => c.upperDir).filter(Boolean));
    this.disk.retain(uppers);
    for (const dir of this.layers.keys()) if (!uppers.has(dir)) this.layers.delete(dir);
    this.netns.retain(new Set(pods.map((p) => p.namespacePaths.net).filter((p): p is string => !!p)));
    this.cgroups.retain(new Set([...containers.map((c) => c.cgroupPath), ...pods.map((p) => p.cgroupPath)].filter(Boolean)));
  }
}
