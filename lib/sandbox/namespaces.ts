import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../process/index.js';
import { unmountAll } from './mounts.js';
import type { PodRecord } from './record.js';

export type PinnedPaths = PodRecord['namespacePaths'];

/** The files a pod's namespaces are pinned to (only the kinds it gets its own of). */
export function namespacePaths(nsDir: string, podId: string, own: { net: boolean; ipc: boolean; uts: boolean; pid: boolean; user: boolean }): PinnedPaths {
  const paths: PinnedPaths = {};
  if (own.user) paths.user = join(nsDir, `${podId}-user`);
  if (own.net) paths.net = join(nsDir, `${podId}-net`);
  if (own.ipc) paths.ipc = join(nsDir, `${podId}-ipc`);
  if (own.uts) paths.uts = join(nsDir, `${podId}-uts`);
  if (own.pid) paths.pid = join(nsDir, `${podId}-pid`);
  return paths;
}

/**
 * Creates and pins the net/ipc/uts namespaces in one `unshare`, which then sets the pod's
 * hostname inside the new UTS namespace: they live on without any process.
 */
export async function pinNamespaces(paths: PinnedPaths, hostname: string | undefined): Promise<void> {
  const args: string[] = [];
  for (const kind of ['net', 'ipc', 'uts'] as const) {
    const file = paths[kind];
    if (!file) continue;
    writeFileSync(file, '', { flag: 'a' });
    args.push(`--${kind}=${file}`);
  }
  if (args.length === 0) return;
  const command = paths.uts && hostname ? ['hostname', hostname] : ['true'];
  await runCommand('unshare', [...args, ...command], { timeoutMs: 30_000 });
}

/** Unmounts and deletes the pinned files; already gone is fine. */
export async function unpinNamespaces(paths: PinnedPaths): Promise<void> {
  const files = Object.values(paths).filter((p): p is string => !!p);
  await unmountAll(files);
  for (const f of files) rmSync(f, { force: true });
}
