import { readFileSync } from 'node:fs';
/**
 * CRI timestamps are int64 nanoseconds since the epoch (~1.8e18), past the exact range of a
 * JavaScript number: they travel as bigint inside runcri and as decimal strings on the wire.
 */
const startWallNs = BigInt(Date.now()) * 1_000_000n;
const startMonoNs = process.hrtime.bigint();

/** Wall-clock now in nanoseconds, with sub-millisecond resolution from the monotonic clock. */
export function nowNanos(): bigint {
  return startWallNs + (process.hrtime.bigint() - startMonoNs);
}

export function nanosToWire(ns: bigint | undefined): string {
  return (ns ?? 0n).toString();
}

/** Parses an int64 from the wire (decimal string, number or Long-like) exactly. */
export function wireToNanos(value: string | number | bigint | { toString(): string } | null | undefined): bigint {
  if (value === null || value === undefined || value === '') return 0n;
  return BigInt(value.toString());
}

export function nanosToDate(ns: bigint): Date {
  return new Date(Number(ns / 1_000_000n));
}

/** RFC 3339 with nanoseconds, as CRI logs and status messages write times. */
export function rfc3339Nano(ns: bigint): string {
  const date = nanosToDate(ns).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${date}.${frac}Z`;
}

/**
 * When a process started, in nanoseconds since the epoch, from /proc (boot time plus its
 * start in clock ticks, 100 a second on Linux); undefined when it is gone. Precise to 10 ms.
 */
export function processStartNanos(pid: number): bigint | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may hold spaces: fields are counted after its `)`.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = BigInt(fields[19]!);
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
    if (btime === undefined) return undefined;
    return BigInt(btime) * 1_000_000_000n + ticks * 10_000_000n;
  } catch {
    return undefined;
  }
}
