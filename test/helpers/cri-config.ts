/** CRI request messages as the server decodes them (every field present), for tests of pure logic. */
import type { ContainerConfig__Output } from '../../lib/generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerSecurityContext__Output } from '../../lib/generated/runtime/v1/LinuxContainerSecurityContext.js';
import type { LinuxContainerResources__Output } from '../../lib/generated/runtime/v1/LinuxContainerResources.js';
import type { Mount__Output } from '../../lib/generated/runtime/v1/Mount.js';
import type { PodSandboxConfig__Output } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';

export function securityContext(p: Partial<LinuxContainerSecurityContext__Output> = {}): LinuxContainerSecurityContext__Output {
  return {
    capabilities: null, privileged: false, namespace_options: null, selinux_options: null, run_as_user: null,
    run_as_username: '', readonly_rootfs: false, supplemental_groups: [], apparmor_profile: '', seccomp_profile_path: '',
    no_new_privs: false, run_as_group: null, masked_paths: [], readonly_paths: [], seccomp: null, apparmor: null,
    supplemental_groups_policy: 'Merge', ...p,
  };
}

export function resources(p: Partial<LinuxContainerResources__Output> = {}): LinuxContainerResources__Output {
  return { cpu_period: '0', cpu_quota: '0', cpu_shares: '0', memory_limit_in_bytes: '0', oom_score_adj: '0', cpuset_cpus: '', cpuset_mems: '', hugepage_limits: [], unified: {}, memory_swap_limit_in_bytes: '0', ...p };
}

export function mount(p: Partial<Mount__Output>): Mount__Output {
  return { container_path: '', host_path: '', readonly: false, selinux_relabel: false, propagation: 'PROPAGATION_PRIVATE', uidMappings: [], gidMappings: [], recursive_read_only: false, image: null, image_sub_path: '', mount_options: [], ...p };
}

export function container(p: Partial<ContainerConfig__Output> = {}, sc?: Partial<LinuxContainerSecurityContext__Output>, res?: Partial<LinuxContainerResources__Output>): ContainerConfig__Output {
  return {
    metadata: { name: 'c', attempt: 0 }, image: null, command: [], args: [], working_dir: '', envs: [], mounts: [], devices: [],
    labels: {}, annotations: {}, log_path: '', stdin: false, stdin_once: false, tty: false,
    linux: { resources: res ? resources(res) : null, security_context: securityContext(sc) }, windows: null, CDI_devices: [], stop_signal: 'SIGNAL_RUNTIME_DEFAULT', ...p,
  };
}

export function podConfig(privileged = false, sysctls: Record<string, string> = {}): PodSandboxConfig__Output {
  return {
    metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 }, hostname: 'podhost', log_directory: '/var/log/pods/x', dns_config: null, port_mappings: [], labels: {}, annotations: {},
    linux: { cgroup_parent: '/kubepods/podx', security_context: privileged ? { namespace_options: null, selinux_options: null, run_as_user: null, readonly_rootfs: false, supplemental_groups: [], privileged: true, seccomp_profile_path: '', run_as_group: null, seccomp: null, apparmor: null, supplemental_groups_policy: 'Merge' } : null, sysctls, overhead: null, resources: null },
    windows: null,
  };
}
