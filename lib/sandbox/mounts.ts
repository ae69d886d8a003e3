import { runCommand } from '../process/index.js';
import { mountPoints } from '../util/mountinfo.js';

export { mountPoints };

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
