import { readFileSync } from 'node:fs';
import { runCommand } from '../process/index.js';

/** Mount points of this process's mount namespace. */
export function mountPoints(): Set<string> {
  const points = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (field) points.add(field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))));
  }
  return points;
}

/** Unmounts those of `paths` that are mount points, in one `umount` run. */
export async function unmountAll(paths: readonly string[]): Promise<void> {
  const mounted = mountPoints();
  const targets = paths.filter((p) => mounted.has(p));
  if (targets.length > 0) await runCommand('umount', targets, { timeoutMs: 30_000 });
}

/** Makes `dir` a private mount point (bind-mounting it onto itself first if needed): nsfs files can only be pinned on a non-shared mount. */
export async function ensurePrivateMount(dir: string): Promise<void> {
  if (!mountPoints().has(dir)) await runCommand('mount', ['--bind', dir, dir], { timeoutMs: 10_000 });
  await runCommand('mount', ['--make-private', dir], { timeoutMs: 10_000 });
}
