import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** Mount points at or below `dir`, deepest first, from this process's mount table. */
export function mountsBelow(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(prefix)))
    .map((p) => p.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything below `dir`: a safety net so a failed test never poisons the machine. */
export function unmountBelow(dir: string): void {
  for (const mount of mountsBelow(dir)) spawnSync('umount', ['-l', mount]);
}
