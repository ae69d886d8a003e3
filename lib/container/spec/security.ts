import type { LinuxContainerSecurityContext__Output } from '../../generated/runtime/v1/LinuxContainerSecurityContext.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../errors/index.js';
import type { OciCapabilities, OciSeccomp } from '../../oci/types.js';
import type { DefaultSeccompProfile } from './types.js';

function capName(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

const isAll = (name: string) => name.trim().toUpperCase() === 'ALL';

/**
 * The capability sets: the defaults, or all of the daemon's own for `privileged`/`add ALL`,
 * minus drops, plus adds. A capability the daemon itself lacks cannot be granted (capset
 * would fail at start), so asking for one is the caller's error.
 */
export function capabilities(sc: LinuxContainerSecurityContext__Output | null | undefined, defaults: string[], daemonCaps: string[]): OciCapabilities {
  const own = new Set(daemonCaps);
  let set: string[];
  const ambient: string[] = [];
  if (sc?.privileged) {
    set = [...daemonCaps];
  } else {
    const add = sc?.capabilities?.add_capabilities ?? [];
    const drop = sc?.capabilities?.drop_capabilities ?? [];
    const result = new Set<string>(add.some(isAll) ? daemonCaps : drop.some(isAll) ? [] : defaults.map(capName).filter((c) => own.has(c)));
    for (const d of drop) if (!isAll(d)) result.delete(capName(d));
    for (const a of add) {
      if (isAll(a)) continue;
      const c = capName(a);
      if (!own.has(c)) throw new InvalidArgumentError(`capability ${c} is not available to runcri on this host`);
      result.add(c);
    }
    for (const a of sc?.capabilities?.add_ambient_capabilities ?? []) {
      const c = capName(a);
      if (!own.has(c)) throw new InvalidArgumentError(`ambient capability ${c} is not available to runcri on this host`);
      result.add(c);
      ambient.push(c);
    }
    set = [...result];
  }
  return { bounding: set, effective: set, permitted: set, inheritable: [...ambient], ambient };
}

export type SeccompChoice = { kind: 'runtime-default' } | { kind: 'unconfined' } | { kind: 'localhost'; path: string };

/**
 * Which seccomp profile the request asks for. The structured field wins over the older path
 * string; a request that names none gets `whenEmpty` (kubelet sends an explicit profile
 * whenever the pod spec has one, so "none" means the user asked for nothing).
 */
export function seccompChoice(sc: LinuxContainerSecurityContext__Output | null | undefined, whenEmpty: 'runtime-default' | 'unconfined'): SeccompChoice {
  if (sc?.seccomp) {
    switch (sc.seccomp.profile_type) {
      case 'Unconfined': return { kind: 'unconfined' };
      case 'Localhost': {
        if (!sc.seccomp.localhost_ref.startsWith('/')) throw new InvalidArgumentError(`seccomp localhost_ref "${sc.seccomp.localhost_ref}" must be an absolute path`);
        return { kind: 'localhost', path: sc.seccomp.localhost_ref };
      }
      default: return { kind: 'runtime-default' };
    }
  }
  const path = sc?.seccomp_profile_path ?? '';
  if (path === '') return { kind: whenEmpty };
  if (path === 'runtime/default' || path === 'docker/default') return { kind: 'runtime-default' };
  if (path === 'unconfined') return { kind: 'unconfined' };
  if (path.startsWith('localhost/')) {
    const file = path.slice('localhost/'.length);
    if (!file.startsWith('/')) throw new InvalidArgumentError(`seccomp profile "${path}" must name an absolute path`);
    return { kind: 'localhost', path: file };
  }
  throw new InvalidArgumentError(`unknown seccomp profile "${path}"`);
}

/** The runtime default profile with the syscalls unlocked by the capabilities the container holds. */
export function runtimeDefaultSeccomp(profile: DefaultSeccompProfile, caps: string[]): OciSeccomp {
  const { capabilitySyscalls, ...base } = profile;
  const syscalls = [...base.syscalls];
  const held = new Set(caps);
  const unlocked = new Set<string>();
  for (const [cap, names] of Object.entries(capabilitySyscalls ?? {})) {
    if (held.has(cap)) for (const n of names) unlocked.add(n);
  }
  if (unlocked.size > 0) syscalls.push({ names: [...unlocked].sort(), action: 'SCMP_ACT_ALLOW' });
  return { ...base, syscalls };
}

export function seccompSpec(choice: SeccompChoice, privileged: boolean, profile: DefaultSeccompProfile, caps: string[], localhost: OciSeccomp | undefined): OciSeccomp | undefined {
  // Privileged means unconfined, whatever profile the request names: kubelet sends the pod's
  // profile to every container, and a privileged one must be able to do what the node can.
  if (privileged) return undefined;
  switch (choice.kind) {
    case 'unconfined': return undefined;
    case 'localhost':
      if (!localhost) throw new FailedPreconditionError(`seccomp profile ${choice.path} was not loaded`);
      return localhost;
    case 'runtime-default':
      return runtimeDefaultSeccomp(profile, caps);
  }
}

/**
 * This host has no AppArmor and no SELinux: asking for their defaults (or for none) is
 * harmless and logged; insisting on a named AppArmor profile cannot be honoured.
 */
export function lsmWarnings(sc: LinuxContainerSecurityContext__Output | null | undefined): string[] {
  const warnings: string[] = [];
  const apparmorLocal = sc?.apparmor?.profile_type === 'Localhost' ? sc.apparmor.localhost_ref : sc?.apparmor_profile?.startsWith('localhost/') ? sc.apparmor_profile.slice(10) : '';
  if (apparmorLocal) throw new FailedPreconditionError(`AppArmor profile "${apparmorLocal}" requested, but AppArmor is not enabled on this host`);
  if (sc?.apparmor || sc?.apparmor_profile) warnings.push('AppArmor is not enabled on this host; the apparmor profile request is ignored');
  const se = sc?.selinux_options;
  if (se && (se.user || se.role || se.type || se.level)) warnings.push('SELinux is not enabled on this host; selinux_options are ignored');
  return warnings;
}
