import { readFileSync } from 'node:fs';

/** One line of /proc/self/mountinfo (proc(5)), octal escapes decoded. */
export interface MountEntry {
  /** The path within the mounted filesystem that is the root of this mount. */
  root: string;
  mountPoint: string;
  /** Per-mount options (rw, nosuid, …). */
  options: string;
  /** Optional fields: `shared:N`, `master:N`, … (propagation). */
  optional: string[];
  fsType: string;
  source: string;
  superOptions: string;
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses mountinfo text; pure, so fixtures can test any layout. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 4) continue;
    entries.push({
      root: unescape(fields[3]!),
      mountPoint: unescape(fields[4]!),
      options: fields[5]!,
      optional: fields.slice(6, separator),
      fsType: fields[separator + 1]!,
      source: unescape(fields[separator + 2]!),
      superOptions: fields[separator + 3]!,
    });
  }
  return entries;
}

export function readMountInfo(): MountEntry[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** Mount points of this process's mount namespace. */
export function mountPoints(): Set<string> {
  return new Set(readMountInfo().map((m) => m.mountPoint));
}

/** The mount holding `path`: the longest mount point at or above it (the last one mounted wins). */
export function mountHolding(path: string, entries: readonly MountEntry[] = readMountInfo()): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of entries) {
    const under = m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`);
    if (under && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}
