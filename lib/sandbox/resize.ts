/**
 * In-place pod resize (UpdatePodSandboxResources): the pod cgroup's CPU and memory limits
 * change under running containers. kubelet sends the pod's full resources each time; a field
 * left unset (0, empty) keeps the value the pod has, as UpdateContainerResources does.
 */
import { CgroupWriteError, checkPodLimits, fromCri, podResources, type CgroupManager } from '../cgroups/index.js';
import { FailedPreconditionError } from '../errors/index.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { PodRecord, PodResources } from './record.js';

type Resources = LinuxContainerResources__Output;

function isSet(value: unknown): boolean {
  if (typeof value === 'string') return value !== '' && value !== '0';
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return false;
}

/** `update`'s set fields over `current`'s. */
export function mergeResources(current: Resources | null, update: Resources | null): Resources | null {
  if (!update) return current;
  if (!current) return update;
  const merged = { ...current } as Record<string, unknown>;
  for (const [key, value] of Object.entries(update)) if (isSet(value)) merged[key] = value;
  return merged as unknown as Resources;
}

/** What the pod cgroup is set to now: the last resize, else what RunPodSandbox was given. */
export function currentPodResources(pod: PodRecord): PodResources {
  return pod.resources ?? { resources: pod.config.linux?.resources ?? null, overhead: pod.config.linux?.overhead ?? null };
}

/** The pod's memory use as its cgroup counts it (page cache included, as kubelet's own resize check counts it). */
function memoryUsage(cgroups: CgroupManager, path: string): bigint | undefined {
  const text = cgroups.read(path, cgroups.layout.version === 2 ? 'memory.current' : 'memory.usage_in_bytes');
  const trimmed = text?.trim();
  return trimmed && /^[0-9]+$/.test(trimmed) ? BigInt(trimmed) : undefined;
}

function mib(bytes: bigint): string {
  return `${(Number(bytes) / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * Sets the pod cgroup to `update` merged over the pod's current resources and returns what it
 * now is. A memory limit below what the pod uses is refused before anything is written: v1
 * would refuse it after trying to reclaim, v2 would OOM-kill the pod's processes.
 */
export function resizePodCgroup(cgroups: CgroupManager, pod: PodRecord, update: PodResources): PodResources {
  if (!cgroups.exists(pod.cgroupPath)) {
    throw new FailedPreconditionError(`pod sandbox ${pod.id} has no cgroup ${pod.cgroupPath} to resize`);
  }
  const current = currentPodResources(pod);
  const next: PodResources = { resources: mergeResources(current.resources, update.resources), overhead: mergeResources(current.overhead, update.overhead) };
  const target = podResources(fromCri(next.resources), fromCri(next.overhead));
  checkPodLimits(target, `pod sandbox ${pod.id} (its current values merged with the update)`);
  if (target.memoryLimit !== undefined && target.memoryLimit > 0n) {
    const usage = memoryUsage(cgroups, pod.cgroupPath);
    if (usage !== undefined && target.memoryLimit < usage) {
      throw new FailedPreconditionError(`pod sandbox ${pod.id}: a memory limit of ${target.memoryLimit} bytes (${mib(target.memoryLimit)}) is below the pod's current memory usage of ${usage} bytes (${mib(usage)}); the limit is unchanged`);
    }
  }
  try {
    cgroups.apply(pod.cgroupPath, target);
  } catch (err) {
    throw refusal(pod.id, err);
  }
  return next;
}

/** The kernel's refusals a caller can act on, as FAILED_PRECONDITION; anything else as it came. */
function refusal(podId: string, err: unknown): unknown {
  if (!(err instanceof CgroupWriteError)) return err;
  if (err.errno === 'EBUSY' && err.file.startsWith('memory.')) {
    return new FailedPreconditionError(`pod sandbox ${podId}: the kernel could not reclaim enough memory to set ${err.file} to ${err.value}; the pod uses more than that`, { cause: err });
  }
  if (err.errno === 'EINVAL' && err.file === 'cpu.cfs_quota_us') {
    return new FailedPreconditionError(`pod sandbox ${podId}: a CPU quota of ${err.value} is below one of its containers' quotas; lower the containers' CPU limits first`, { cause: err });
  }
  return err;
}

const LIMIT_FILES: Record<1 | 2, string[]> = {
  1: ['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us', 'memory.limit_in_bytes', 'memory.usage_in_bytes'],
  2: ['cpu.weight', 'cpu.max', 'memory.max', 'memory.current'],
};

/** The pod cgroup's CPU and memory files as the kernel reports them now (for verbose status). */
export function podCgroupLimits(cgroups: CgroupManager, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of LIMIT_FILES[cgroups.layout.version]) {
    const value = cgroups.read(path, file);
    if (value !== undefined) out[file] = value.trim();
  }
  return out;
}
