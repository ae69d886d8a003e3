import { InvalidArgumentError } from '../errors/index.js';
import { runCommand } from '../process/index.js';
import type { NamespaceMode } from './record.js';

export interface SysctlPlan {
  net: [string, string][];
  ipc: [string, string][];
}

const IPC_KEYS = new Set(['kernel.shmmax', 'kernel.shmall', 'kernel.shmmni', 'kernel.shm_rmid_forced', 'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem']);

/**
 * Sorts the pod's sysctls by the namespace they live in. Only namespaced ones are allowed, and
 * only when the pod has its own namespace of that kind: otherwise the node's would change.
 */
export function planSysctls(sysctls: Record<string, string>, network: NamespaceMode, ipc: NamespaceMode): SysctlPlan {
  const plan: SysctlPlan = { net: [], ipc: [] };
  for (const [rawKey, value] of Object.entries(sysctls)) {
    // Kubernetes accepts both separators: net/ipv4/ip_forward and net.ipv4.ip_forward.
    const key = rawKey.includes('/') ? rawKey.replace(/\./g, '\u0000').replace(/\//g, '.').replace(/\u0000/g, '/') : rawKey;
    if (!/^[a-z0-9_.\/-]+$/i.test(key) || key.split('.').includes('') || /\.\.|^\//.test(key)) throw new InvalidArgumentError(`sysctl "${rawKey}" is not a valid name`);
    if (/[\n=]/.test(value)) throw new InvalidArgumentError(`sysctl ${rawKey}: value must not contain "=" or a newline`);
    if (key.startsWith('net.')) {
      if (network === 'NODE') throw new InvalidArgumentError(`sysctl ${rawKey} is not allowed for a pod on the host network`);
      plan.net.push([key, value]);
    } else if (IPC_KEYS.has(key) || key.startsWith('fs.mqueue.')) {
      if (ipc === 'NODE') throw new InvalidArgumentError(`sysctl ${rawKey} is not allowed for a pod in the host IPC namespace`);
      plan.ipc.push([key, value]);
    } else {
      throw new InvalidArgumentError(`sysctl ${rawKey} is not namespaced (only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* are)`);
    }
  }
  return plan;
}

/** Writes the sysctls from inside the pod's namespaces (/proc/sys shows the writer's own). */
export async function applySysctls(plan: SysctlPlan, paths: { net?: string; ipc?: string }): Promise<void> {
  const runs: Promise<unknown>[] = [];
  if (plan.net.length > 0 && paths.net) runs.push(runCommand('nsenter', [`--net=${paths.net}`, '--', 'sysctl', '-q', '-w', ...plan.net.map(([k, v]) => `${k}=${v}`)], { timeoutMs: 10_000 }));
  if (plan.ipc.length > 0 && paths.ipc) runs.push(runCommand('nsenter', [`--ipc=${paths.ipc}`, '--', 'sysctl', '-q', '-w', ...plan.ipc.map(([k, v]) => `${k}=${v}`)], { timeoutMs: 10_000 }));
  await Promise.all(runs);
}
