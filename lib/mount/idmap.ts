import { runCommand } from '../process/index.js';

const TIMEOUT_MS = 30_000;

/**
 * Mounts at `target` (an existing directory) an ID-mapped view of the directory `source`, with
 * the IDs of the user namespace pinned at `userns`, through runcri's helper (native/idmap-mount).
 */
export async function idmapMount(helper: string, userns: string, source: string, target: string): Promise<void> {
  await runCommand(helper, [userns, source, target], { timeoutMs: TIMEOUT_MS });
}

/** Replaces the mount at `target` with an overlay of `options`, whose relative paths resolve in `cwd` (an ID-mapped view). */
export async function replaceWithOverlay(helper: string, target: string, options: string, cwd: string): Promise<void> {
  await runCommand(helper, ['--overlay', target, options], { cwd, timeoutMs: TIMEOUT_MS });
}
