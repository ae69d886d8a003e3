/**
 * `usage_nano_cores` is a rate: CPU nanoseconds used per wall nanosecond, times 1e9. It needs
 * the previous sample of the same cgroup; this keeps one per key.
 */
interface Sample {
  cpuNs: bigint;
  atNs: bigint;
}

/**
 * Samples closer together than this give a noisy rate; the older sample is kept so back-to-back
 * callers (kubelet's summary and a crictl stats at the same moment) both get a stable answer.
 */
const MIN_INTERVAL_NS = 100_000_000n;

export class CpuRateTracker {
  private readonly samples = new Map<string, { current: Sample; previous?: Sample }>();

  /** Records a sample and returns the rate against the last one far enough back; undefined for the first. */
  observe(key: string, cpuNs: bigint, atNs: bigint): bigint | undefined {
    const entry = this.samples.get(key);
    const sample = { cpuNs, atNs };
    if (!entry) {
      this.samples.set(key, { current: sample });
      return undefined;
    }
    let base = entry.current;
    if (atNs - base.atNs < MIN_INTERVAL_NS) {
      // too soon: rate against the sample before, and do not let this one replace it
      if (!entry.previous) return undefined;
      base = entry.previous;
      return rate(base, sample);
    }
    entry.previous = entry.current;
    entry.current = sample;
    return rate(base, sample);
  }

  /** Drops keys not in `live`, so removed containers do not accumulate. */
  retain(live: ReadonlySet<string>): void {
    for (const key of this.samples.keys()) if (!live.has(key)) this.samples.delete(key);
  }

  forget(key: string): void {
    this.samples.delete(key);
  }
}

function rate(from: Sample, to: Sample): bigint | undefined {
  const dt = to.atNs - from.atNs;
  if (dt <= 0n) return undefined;
  // A counter that went backwards is a recreated cgroup: no meaningful rate.
  if (to.cpuNs < from.cpuNs) return undefined;
  return ((to.cpuNs - from.cpuNs) * 1_000_000_000n) / dt;
}
