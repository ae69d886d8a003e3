/** Helpers every scenario shares: percentiles and the `metric value unit` output lines. */

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function metric(name: string, value: number, unit: string): void {
  const digits = Math.abs(value) >= 100 ? 1 : Math.abs(value) >= 1 ? 2 : 4;
  process.stdout.write(`${name} ${value.toFixed(digits)} ${unit}\n`);
}

/** A measured figure next to its floor: prints both and their ratio. */
export function compare(name: string, measured: number, floor: number, unit: string): void {
  metric(name, measured, unit);
  metric(`${name}_floor`, floor, unit);
  metric(`${name}_ratio`, measured / floor, 'x');
}

export async function timeMs<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return [Number(process.hrtime.bigint() - start) / 1e6, value];
}

/** Proportional set size of a process in KiB, from /proc/PID/smaps_rollup. */
export function pssKiB(pid: number, read: (path: string) => string): number {
  const match = /^Pss:\s+(\d+) kB/m.exec(read(`/proc/${pid}/smaps_rollup`));
  return match ? Number(match[1]) : Number.NaN;
}

export function rssKiB(pid: number, read: (path: string) => string): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(read(`/proc/${pid}/status`));
  return match ? Number(match[1]) : Number.NaN;
}
