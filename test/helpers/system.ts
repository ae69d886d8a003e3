import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
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

/** Removes an (empty) cgroup and its children from every hierarchy under /sys/fs/cgroup. */
export function removeCgroupTree(relative: string): void {
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const top = join('/sys/fs/cgroup', hierarchy, relative);
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (dir: string) => {
      dirs.push(dir);
      for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
    };
    walk(top);
    for (const dir of dirs.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // still holds a process: a leak the test itself reports
      }
    }
  }
}
