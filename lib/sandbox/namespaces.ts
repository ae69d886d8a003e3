import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../process/index.js';
import { unmountAll } from './mounts.js';
import type { PodRecord } from './record.js';
import { SYSCTL_WRITE_LOOP, requiredNamespaces, sysctlArguments, sysctlFailure, type SysctlWrite } from './sysctl.js';

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
 * What runs inside the new namespaces before they are pinned: the pod's hostname in its UTS
 * namespace, its loopback interface up in its network namespace, then its sysctls. The peers
 * bring `lo` up themselves, so a CNI configuration without the loopback plugin still gives
 * pods a working 127.0.0.1. Sysctls are written here because /proc/sys shows the namespaces of
 * the task that opens it, and this task is the one inside the pod's (while still seeing the
 * node's /proc mount). The script is fixed; hostname and sysctls reach it as arguments.
 */
const SETUP_SCRIPT = [
  'if [ -n "$1" ]; then hostname -- "$1" || exit 1; fi',
  'if [ "$2" = up ]; then ip link set lo up || exit 1; fi',
  'shift 2',
  SYSCTL_WRITE_LOOP,
].join('\n');

/**
 * Creates and pins the net/ipc/uts namespaces in one `unshare`, which sets them up from
 * inside (hostname, loopback, sysctls): they live on without any process.
 */
export async function pinNamespaces(paths: PinnedPaths, hostname: string | undefined, sysctls: readonly SysctlWrite[] = []): Promise<void> {
  const args: string[] = [];
  // Refuses a sysctl of a kind the pod does not get its own namespace of, before anything is made.
  requiredNamespaces(sysctls, paths);
  for (const kind of ['net', 'ipc', 'uts'] as const) {
    const file = paths[kind];
    if (!file) continue;
    writeFileSync(file, '', { flag: 'a' });
    args.push(`--${kind}=${file}`);
  }
  if (args.length === 0) return;
  const name = paths.uts && hostname ? hostname : '';
  const loopback = paths.net ? 'up' : '';
  try {
    await runCommand('unshare', [...args, 'sh', '-c', SETUP_SCRIPT, 'pod-namespace-setup', name, loopback, ...sysctlArguments(sysctls)], { timeoutMs: 30_000 });
  } catch (err) {
    throw sysctlFailure(err);
  }
}

/** Unmounts and deletes the pinned files; already gone is fine. */
export async function unpinNamespaces(paths: PinnedPaths): Promise<void> {
  const files = Object.values(paths).filter((p): p is string => !!p);
  await unmountAll(files);
  for (const f of files) rmSync(f, { force: true });
}
