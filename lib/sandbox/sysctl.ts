import { posix } from 'node:path';
import { InternalError, InvalidArgumentError, messageOf } from '../errors/index.js';
import { CommandFailedError, runCommand } from '../process/index.js';
import type { NamespaceMode } from './record.js';

/** The namespace a sysctl belongs to: the pod must have its own of that kind to set it. */
export type SysctlNamespace = 'net' | 'ipc' | 'uts';

/** One sysctl of the pod, checked: its name in dot form, the file it is written to, its value. */
export interface SysctlWrite {
  key: string;
  namespace: SysctlNamespace;
  /** Below /proc/sys, made only of checked name segments. */
  path: string;
  value: string;
}

export interface SysctlPlan {
  writes: SysctlWrite[];
  /** The pod's sysctls by their dot-form names (what the record and the containers' specs carry). */
  normalized: Record<string, string>;
}

/** A sysctl name segment, as Kubernetes validates them: no empty, `.` or `..` segment can pass. */
const SEGMENT = /^[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/;
/** Kubernetes' own limit on a sysctl name. */
const MAX_NAME_LENGTH = 253;
/** A sysctl value is one line the kernel reads from a page at most. */
const MAX_VALUE_BYTES = 4096;
const PROC_SYS = '/proc/sys';

/**
 * Whether the (dot-form) name is one the kernel keeps per namespace, and which. The prefixes
 * are Kubernetes' list; each maps to one subtree of /proc/sys that the writer re-checks.
 */
function namespaceOf(key: string): SysctlNamespace | undefined {
  if (key.startsWith('net.')) return 'net';
  if (key.startsWith('fs.mqueue.') || key.startsWith('kernel.shm') || key.startsWith('kernel.msg') || key === 'kernel.sem') return 'ipc';
  if (key === 'kernel.hostname' || key === 'kernel.domainname') return 'uts';
  return undefined;
}

/**
 * Checks a sysctl name and gives its two forms. Kubernetes accepts `.` or `/` as the separator:
 * in a name that holds a `/`, that is the separator and a `.` is part of a segment
 * (net/ipv4/conf/eth0.100/forwarding, net.ipv4.conf.eth0/100.forwarding in dot form). Every
 * piece between any two separators must be a plain segment, so no form of the name can climb
 * out of the directory it names.
 */
export function parseSysctlName(raw: string): { key: string; path: string } {
  if (raw.length === 0 || raw.length > MAX_NAME_LENGTH || !raw.split(/[./]/).every((s) => SEGMENT.test(s))) {
    throw new InvalidArgumentError(`sysctl "${raw}" is not a valid name: segments of lower-case letters, digits, "-" and "_" separated by "." or "/"`);
  }
  const slashForm = raw.includes('/');
  const parts = slashForm ? raw.split('/') : raw.split('.');
  const key = slashForm ? parts.map((p) => p.replace(/\./g, '/')).join('.') : raw;
  return { key, path: `${PROC_SYS}/${parts.join('/')}` };
}

/** The subtree of /proc/sys that a sysctl of the namespace may resolve to, lexically. */
function withinSubtree(path: string, namespace: SysctlNamespace): boolean {
  if (posix.normalize(path) !== path) return false;
  const name = path.slice(`${PROC_SYS}/`.length);
  switch (namespace) {
    case 'net': return name.startsWith('net/');
    case 'ipc': return name.startsWith('fs/mqueue/') || /^kernel\/(shm[^/]*|msg[^/]*|sem)$/.test(name);
    case 'uts': return name === 'kernel/hostname' || name === 'kernel/domainname';
  }
}

/**
 * Sorts the pod's sysctls by the namespace they live in. Only namespaced ones are allowed, and
 * only when the pod has its own namespace of that kind: otherwise the node's would change. The
 * pod's UTS namespace is its own exactly when its network is (as the namespace paths are made).
 */
export function planSysctls(sysctls: Record<string, string>, network: NamespaceMode, ipc: NamespaceMode): SysctlPlan {
  const plan: SysctlPlan = { writes: [], normalized: {} };
  for (const [rawKey, value] of Object.entries(sysctls)) {
    const { key, path } = parseSysctlName(rawKey);
    if (/[\0\n\r]/.test(value) || Buffer.byteLength(value) > MAX_VALUE_BYTES) {
      throw new InvalidArgumentError(`sysctl ${rawKey}: the value must be one line of at most ${MAX_VALUE_BYTES} bytes`);
    }
    const namespace = namespaceOf(key);
    if (!namespace) throw new InvalidArgumentError(`sysctl ${rawKey} is not namespaced (only net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.hostname and kernel.domainname are)`);
    if (namespace === 'net' && network === 'NODE') throw new InvalidArgumentError(`sysctl ${rawKey} is not allowed for a pod on the host network`);
    if (namespace === 'uts' && network === 'NODE') throw new InvalidArgumentError(`sysctl ${rawKey} is not allowed for a pod in the host UTS namespace`);
    if (namespace === 'ipc' && ipc === 'NODE') throw new InvalidArgumentError(`sysctl ${rawKey} is not allowed for a pod in the host IPC namespace`);
    if (!withinSubtree(path, namespace)) throw new InvalidArgumentError(`sysctl ${rawKey} does not name a file of the ${namespace} namespace`);
    if (key in plan.normalized) throw new InvalidArgumentError(`sysctl ${key} is given twice (in "." and "/" form)`);
    plan.normalized[key] = value;
    plan.writes.push({ key, namespace, path, value });
  }
  return plan;
}

/**
 * The shell loop that writes the sysctls from inside the pod's namespaces: /proc/sys/net shows
 * the writing task's network namespace, kernel/shm*, kernel/msg*, kernel/sem and fs/mqueue its
 * IPC namespace, kernel/hostname its UTS namespace. The text is fixed; each sysctl arrives as
 * three arguments (name, file, value). Before writing, the file must exist, resolve to itself
 * (no symbolic link anywhere on the way) and lie in one of the namespaced subtrees: a second
 * wall behind the name check, in the process that does the writing.
 * Exit status 3: refused; 4: no such sysctl; 5: the kernel refused the value.
 */
export const SYSCTL_WRITE_LOOP = [
  'while [ "$#" -ge 3 ]; do',
  '  [ -f "$2" ] || { echo "sysctl $1 does not exist in the pod\'s namespaces" >&2; exit 4; }',
  '  f=$(readlink -f -- "$2") || exit 3',
  '  [ "$f" = "$2" ] || { echo "sysctl $1: $2 resolves to $f" >&2; exit 3; }',
  '  case $f in',
  '    /proc/sys/net/*|/proc/sys/fs/mqueue/*|/proc/sys/kernel/shm*|/proc/sys/kernel/msg*|/proc/sys/kernel/sem|/proc/sys/kernel/hostname|/proc/sys/kernel/domainname) ;;',
  '    *) echo "sysctl $1: $f is not a namespaced sysctl" >&2; exit 3 ;;',
  '  esac',
  '  printf \'%s\\n\' "$3" > "$f" || { echo "sysctl $1: the kernel refused the value" >&2; exit 5; }',
  '  shift 3',
  'done',
].join('\n');

/** The writer's arguments for `writes`, in the order SYSCTL_WRITE_LOOP takes them. */
export function sysctlArguments(writes: readonly SysctlWrite[]): string[] {
  return writes.flatMap((w) => [w.key, w.path, w.value]);
}

/** The namespaces `writes` need: the writer must run in each of them, never in the node's. */
export function requiredNamespaces(writes: readonly SysctlWrite[], own: Partial<Record<SysctlNamespace, string>>): Partial<Record<SysctlNamespace, string>> {
  const needed: Partial<Record<SysctlNamespace, string>> = {};
  for (const w of writes) {
    const file = own[w.namespace];
    if (!file) throw new InternalError(`sysctl ${w.key} needs the pod's own ${w.namespace} namespace, which it does not have`);
    needed[w.namespace] = file;
  }
  return needed;
}

/** A failed writer run as the caller should see it: a sysctl the kernel refuses is bad input. */
export function sysctlFailure(err: unknown): unknown {
  if (err instanceof CommandFailedError && err.exitCode !== undefined && [3, 4, 5].includes(err.exitCode)) {
    return new InvalidArgumentError(err.stderr.trim().split('\n').pop() || messageOf(err), { cause: err });
  }
  return err;
}

/**
 * Writes the sysctls by entering the pod's pinned namespaces. Used where they cannot be
 * written while the namespaces are made (a user-namespaced pod's are made elsewhere).
 */
export async function applySysctls(plan: SysctlPlan, paths: Partial<Record<SysctlNamespace, string>>): Promise<void> {
  if (plan.writes.length === 0) return;
  const enter = Object.entries(requiredNamespaces(plan.writes, paths)).map(([kind, file]) => `--${kind}=${file}`);
  try {
    await runCommand('nsenter', [...enter, '--', 'sh', '-c', SYSCTL_WRITE_LOOP, 'pod-sysctls', ...sysctlArguments(plan.writes)], { timeoutMs: 10_000 });
  } catch (err) {
    throw sysctlFailure(err);
  }
}
