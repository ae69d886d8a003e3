import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerConfig__Output } from '../../lib/generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerSecurityContext__Output } from '../../lib/generated/runtime/v1/LinuxContainerSecurityContext.js';
import type { PodSandboxConfig__Output } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';
import { buildSpec, type RuntimeDefaults, type SpecInput } from '../../lib/container/spec/index.js';
import { InvalidArgumentError, FailedPreconditionError } from '../../lib/errors/index.js';
import type { CdiEdits } from '../../lib/cdi/index.js';
import { container, mount, podConfig } from '../helpers/cri-config.js';

function podWithNamespaces(ns: { network: 'NODE' | 'POD'; ipc: 'NODE' | 'POD' }): PodSandboxConfig__Output {
  const base = podConfig();
  const security_context = { namespace_options: { ...ns, pid: 'CONTAINER' as const, target_id: '', userns_options: null }, selinux_options: null, run_as_user: null, readonly_rootfs: false, supplemental_groups: [], privileged: false, seccomp_profile_path: '', run_as_group: null, seccomp: null, apparmor: null, supplemental_groups_policy: 'Merge' as const };
  return { ...base, linux: { ...base.linux!, security_context } };
}

const DEFAULTS: RuntimeDefaults = {
  capabilities: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SYS_CHROOT'],
  daemonCapabilities: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_SYS_PTRACE'],
  seccomp: {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
    capabilitySyscalls: { CAP_SYS_ADMIN: ['mount', 'unshare'], CAP_SYS_CHROOT: ['chroot'] },
  },
  maskedPaths: ['/proc/kcore'],
  readonlyPaths: ['/proc/sys'],
  baseMounts: [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'ro'] },
  ],
  rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 }],
  env: ['PATH=/usr/bin:/bin'],
  oomRestriction: { restricted: true, own: -500 },
  pidsLimit: 0,
  cgroupDriver: 'cgroupfs',
  cgroupV2: false,
  seccompWhenEmpty: 'unconfined',
};

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:100::/:/bin/sh\n';
const GROUP = 'root:x:0:\nusers:x:100:alice\nalice:x:1000:\nwheel:x:10:alice,bob\n';

function input(c: ContainerConfig__Output, p: Partial<SpecInput> = {}): SpecInput {
  return {
    containerId: 'cid', containerDir: '/var/lib/runcri/containers/cid', rootfs: '/rootfs',
    pod: { id: 'pid', config: podConfig(), namespaces: { network: '/run/netns/p', ipc: '/run/ipc/p', uts: '/run/uts/p' }, cgroupParent: '/kubepods/podx', files: { hostname: '/pod/hostname', resolvConf: '/pod/resolv.conf', hosts: '/pod/hosts', shm: '/pod/shm' } },
    container: c, image: { Entrypoint: ['/entry'], Cmd: ['default-arg'], Env: ['PATH=/image/bin', 'A=image'], WorkingDir: '/work', User: '' },
    defaults: DEFAULTS, identity: { passwd: PASSWD, group: GROUP }, devices: [], hostDevices: [], ...p,
  };
}

test('command replaces ENTRYPOINT and CMD; args alone replace only CMD; neither keeps the image\'s', () => {
  assert.deepEqual(buildSpec(input(container({ command: ['/bin/cmd'], args: ['x'] }))).spec.process.args, ['/bin/cmd', 'x']);
  assert.deepEqual(buildSpec(input(container({ command: ['/bin/cmd'] }))).spec.process.args, ['/bin/cmd']);
  assert.deepEqual(buildSpec(input(container({ args: ['y'] }))).spec.process.args, ['/entry', 'y']);
  assert.deepEqual(buildSpec(input(container())).spec.process.args, ['/entry', 'default-arg']);
});

test('a container with no command anywhere is refused', () => {
  assert.throws(() => buildSpec(input(container(), { image: {} })), InvalidArgumentError);
});

test('env: image values override defaults and request values override the image', () => {
  const env = buildSpec(input(container({ envs: [{ key: 'A', value: Buffer.from('req') }, { key: 'B', value: Buffer.from('1') }] }))).spec.process.env;
  assert.deepEqual(env, ['PATH=/image/bin', 'A=req', 'B=1']);
});

test('working dir: the request, else the image, else /', () => {
  assert.equal(buildSpec(input(container({ working_dir: '/req' }))).spec.process.cwd, '/req');
  assert.equal(buildSpec(input(container())).spec.process.cwd, '/work');
  assert.equal(buildSpec(input(container(), { image: { Cmd: ['x'] } })).spec.process.cwd, '/');
});

test('image USER forms: uid, name, uid:gid, name:group', () => {
  const user = (u: string) => buildSpec(input(container(), { image: { Cmd: ['x'], User: u } })).user;
  assert.deepEqual(user('1000'), { uid: 1000, gid: 1000, groups: [1000, 100, 10] });
  assert.deepEqual(user('alice'), { uid: 1000, gid: 1000, groups: [1000, 100, 10] });
  assert.deepEqual(user('1001:10'), { uid: 1001, gid: 10, groups: [10] });
  assert.deepEqual(user('bob:users'), { uid: 1001, gid: 100, groups: [100, 10] });
  assert.deepEqual(user('4242'), { uid: 4242, gid: 0, groups: [0] });
  assert.deepEqual(user(''), { uid: 0, gid: 0, groups: [0] });
});

test('a named user or group missing from the container is a clear error', () => {
  assert.throws(() => buildSpec(input(container(), { image: { Cmd: ['x'], User: 'nobody' } })), /user "nobody" not found/);
  assert.throws(() => buildSpec(input(container({}, { run_as_username: 'ghost' }))), /user "ghost" not found/);
  assert.throws(() => buildSpec(input(container(), { image: { Cmd: ['x'], User: 'alice:ghosts' } })), /group "ghosts" not found/);
});

test('run_as_group without run_as_user or run_as_username is refused; with either it is honoured', () => {
  assert.throws(() => buildSpec(input(container({}, { run_as_group: { value: '3000' } }))), /run_as_group is set without run_as_user/);
  assert.deepEqual(buildSpec(input(container({}, { run_as_user: { value: '0' }, run_as_group: { value: '3000' } }))).user.gid, 3000);
  assert.deepEqual(buildSpec(input(container({}, { run_as_username: 'bob', run_as_group: { value: '3000' } }))).user.gid, 3000);
});

test('run_as_user / run_as_group / supplemental groups override the image, Strict keeps only the request\'s groups', () => {
  const merge = buildSpec(input(container({}, { run_as_user: { value: '1000' }, run_as_group: { value: '3000' }, supplemental_groups: ['4000'] }))).user;
  assert.deepEqual(merge, { uid: 1000, gid: 3000, groups: [3000, 100, 10, 4000] });
  const strict = buildSpec(input(container({}, { run_as_user: { value: '1000' }, supplemental_groups: ['4000'], supplemental_groups_policy: 'Strict' }))).user;
  assert.deepEqual(strict, { uid: 1000, gid: 1000, groups: [1000, 4000] });
  const byName = buildSpec(input(container({}, { run_as_username: 'bob' }))).spec.process.user;
  assert.deepEqual(byName, { uid: 1001, gid: 100, additionalGids: [100, 10] });
});

test('default capabilities, add and drop, ALL, and a capability the daemon lacks', () => {
  const caps = (sc: Partial<LinuxContainerSecurityContext__Output>) => buildSpec(input(container({}, sc))).spec.process.capabilities.bounding.sort();
  assert.deepEqual(caps({}), ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SYS_CHROOT']);
  assert.deepEqual(caps({ capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['net_raw'], add_ambient_capabilities: [] } }), ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_ADMIN', 'CAP_SYS_CHROOT']);
  assert.deepEqual(caps({ capabilities: { add_capabilities: ['KILL'], drop_capabilities: ['ALL'], add_ambient_capabilities: [] } }), ['CAP_KILL']);
  assert.deepEqual(caps({ capabilities: { add_capabilities: ['ALL'], drop_capabilities: ['SYS_ADMIN'], add_ambient_capabilities: [] } }), ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE']);
  assert.throws(() => caps({ capabilities: { add_capabilities: ['SYS_RESOURCE'], drop_capabilities: [], add_ambient_capabilities: [] } }), /CAP_SYS_RESOURCE is not available/);
});

test('privileged: the daemon\'s own capabilities, host devices, no masked paths, rw /sys, no seccomp', () => {
  const hostDevices = [{ hostPath: '/dev/loop0', containerPath: '/dev/loop0', permissions: 'rwm', type: 'b' as const, major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 }];
  const { spec } = buildSpec(input(container({}, { privileged: true }), { hostDevices, pod: { ...input(container()).pod, config: podConfig(true) } }));
  assert.deepEqual(spec.process.capabilities.bounding, DEFAULTS.daemonCapabilities);
  assert.equal(spec.linux.maskedPaths, undefined);
  assert.equal(spec.linux.readonlyPaths, undefined);
  assert.equal(spec.linux.seccomp, undefined);
  assert.deepEqual(spec.linux.devices.map((d) => d.path), ['/dev/loop0']);
  assert.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  const sys = spec.mounts.find((m) => m.destination === '/sys')!;
  assert.ok(!sys.options.includes('ro') && sys.options.includes('rw'));
});

test('privileged under a handler with privileged_without_host_devices: no host devices, device access only as requested', () => {
  const hostDevices = [{ hostPath: '/dev/loop0', containerPath: '/dev/loop0', permissions: 'rwm', type: 'b' as const, major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 }];
  const fuse = { hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rw', type: 'c' as const, major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 };
  const { spec } = buildSpec(input(container({}, { privileged: true }), {
    hostDevices, devices: [fuse], pod: { ...input(container()).pod, config: podConfig(true) },
    handler: { recursiveReadOnlyMounts: false, privilegedWithoutHostDevices: true },
  }));
  assert.deepEqual(spec.process.capabilities.bounding, DEFAULTS.daemonCapabilities, 'still privileged otherwise');
  assert.deepEqual(spec.linux.devices.map((d) => d.path), ['/dev/fuse']);
  assert.deepEqual(spec.linux.resources.devices, [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' }]);
});

test('annotations a runtime acts on reach config.json only when the handler allows them; kubelet\'s pass', () => {
  const annotations = {
    'run.oci.keep_original_groups': '1', 'run.oci.handler': 'krun', 'org.systemd.property.TimeoutStopUSec': 'uint64 1',
    'module.wasm.image/variant': 'compat', 'io.kubernetes.container.hash': 'abc', 'example.com/note': 'x',
  };
  const build = (allowed: string[]) => buildSpec(input(container({ annotations }), { handler: { recursiveReadOnlyMounts: false, allowedAnnotations: allowed } }));
  const none = build([]);
  assert.deepEqual(Object.keys(none.spec.annotations).filter((k) => !k.startsWith('io.kubernetes.cri.')).sort(), ['example.com/note', 'io.kubernetes.container.hash']);
  assert.equal(none.warnings.filter((w) => /allowed_annotations/.test(w)).length, 4);
  const crun = build(['run.oci.']);
  assert.equal(crun.spec.annotations['run.oci.keep_original_groups'], '1');
  assert.equal(crun.spec.annotations['run.oci.handler'], 'krun');
  assert.equal(crun.spec.annotations['org.systemd.property.TimeoutStopUSec'], undefined);
  const one = build(['run.oci.keep_original_groups']);
  assert.deepEqual(Object.keys(one.spec.annotations).filter((k) => k.startsWith('run.oci.')), ['run.oci.keep_original_groups']);
  // The runtime's own keys are runcri's to set, whatever the request says.
  const spoof = buildSpec(input(container({ annotations: { 'io.kubernetes.cri.sandbox-id': 'other' } })));
  assert.equal(spoof.spec.annotations['io.kubernetes.cri.sandbox-id'], 'pid');
});

test('a privileged container in an unprivileged pod is refused', () => {
  assert.throws(() => buildSpec(input(container({}, { privileged: true }))), /privileged pod/);
});

test('readonly rootfs, default and requested masked/readonly paths', () => {
  const { spec } = buildSpec(input(container({}, { readonly_rootfs: true })));
  assert.equal(spec.root.readonly, true);
  assert.deepEqual(spec.linux.maskedPaths, ['/proc/kcore']);
  assert.deepEqual(spec.linux.readonlyPaths, ['/proc/sys']);
  assert.ok(spec.mounts.find((m) => m.destination === '/etc/hosts')!.options.includes('ro'));
  const custom = buildSpec(input(container({}, { masked_paths: ['/proc/x'], readonly_paths: ['/proc/y'] }))).spec;
  assert.deepEqual(custom.linux.maskedPaths, ['/proc/x']);
  assert.deepEqual(custom.linux.readonlyPaths, ['/proc/y']);
});

test('seccomp: no profile named means unconfined, or the default profile when so configured', () => {
  assert.equal(buildSpec(input(container())).spec.linux.seccomp, undefined);
  const configured = buildSpec(input(container(), { defaults: { ...DEFAULTS, seccompWhenEmpty: 'runtime-default' } })).spec.linux.seccomp!;
  assert.equal(configured.defaultAction, 'SCMP_ACT_ERRNO');
});

test('seccomp: RuntimeDefault means the default profile, with syscalls unlocked by held capabilities', () => {
  const empty = buildSpec(input(container({}, { seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } }))).spec.linux.seccomp!;
  assert.equal(empty.defaultAction, 'SCMP_ACT_ERRNO');
  assert.ok(!('capabilitySyscalls' in empty));
  assert.deepEqual(empty.syscalls!.at(-1)!.names, ['chroot']);
  const withAdmin = buildSpec(input(container({}, { seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' }, capabilities: { add_capabilities: ['SYS_ADMIN'], drop_capabilities: [], add_ambient_capabilities: [] } }))).spec.linux.seccomp!;
  assert.deepEqual(withAdmin.syscalls!.at(-1)!.names, ['chroot', 'mount', 'unshare']);
  assert.ok(buildSpec(input(container({}, { seccomp_profile_path: 'runtime/default' }))).spec.linux.seccomp);
});

test('seccomp: Unconfined (structured and path) and Localhost', () => {
  assert.equal(buildSpec(input(container({}, { seccomp: { profile_type: 'Unconfined', localhost_ref: '' } }))).spec.linux.seccomp, undefined);
  assert.equal(buildSpec(input(container({}, { seccomp_profile_path: 'unconfined' }))).spec.linux.seccomp, undefined);
  const local = { defaultAction: 'SCMP_ACT_LOG' };
  assert.deepEqual(buildSpec(input(container({}, { seccomp: { profile_type: 'Localhost', localhost_ref: '/p.json' } }), { localhostSeccomp: local })).spec.linux.seccomp, local);
  assert.deepEqual(buildSpec(input(container({}, { seccomp_profile_path: 'localhost//p.json' }), { localhostSeccomp: local })).spec.linux.seccomp, local);
  assert.throws(() => buildSpec(input(container({}, { seccomp_profile_path: 'bogus' }))), InvalidArgumentError);
  // The structured field wins over the path.
  assert.equal(buildSpec(input(container({}, { seccomp: { profile_type: 'Unconfined', localhost_ref: '' }, seccomp_profile_path: 'runtime/default' }))).spec.linux.seccomp, undefined);
});

test('seccomp: a privileged container is unconfined whatever profile it names', () => {
  const privileged = (sc: Record<string, unknown>) => buildSpec(input(container({}, { privileged: true, ...sc }), { pod: { ...input(container()).pod, config: podConfig(true) }, localhostSeccomp: { defaultAction: 'SCMP_ACT_ERRNO' } })).spec.linux.seccomp;
  assert.equal(privileged({ seccomp: { profile_type: 'Localhost', localhost_ref: '/blocks-sethostname.json' } }), undefined);
  assert.equal(privileged({ seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } }), undefined);
  assert.equal(privileged({ seccomp_profile_path: 'runtime/default' }), undefined);
});

test('AppArmor: defaults are ignored with a warning; a named profile is refused on this host', () => {
  assert.deepEqual(buildSpec(input(container({}, { apparmor: { profile_type: 'RuntimeDefault', localhost_ref: '' } }))).warnings.length, 1);
  assert.throws(() => buildSpec(input(container({}, { apparmor: { profile_type: 'Localhost', localhost_ref: 'k8s-x' } }))), FailedPreconditionError);
});

test('namespaces: pod namespaces joined, NODE shares the host\'s, TARGET joins another container\'s pid namespace', () => {
  const ns = (sc: Partial<LinuxContainerSecurityContext__Output>, p: Partial<SpecInput> = {}) => buildSpec(input(container({}, sc), p)).spec.linux.namespaces;
  assert.deepEqual(ns({}), [{ type: 'mount' }, { type: 'network', path: '/run/netns/p' }, { type: 'ipc', path: '/run/ipc/p' }, { type: 'uts', path: '/run/uts/p' }, { type: 'pid' }]);
  const hostPod = { ...input(container()).pod, namespaces: {}, config: podWithNamespaces({ network: 'NODE', ipc: 'NODE' }) };
  assert.deepEqual(ns({ namespace_options: { network: 'NODE', ipc: 'NODE', pid: 'NODE', target_id: '', userns_options: null } }, { pod: hostPod }), [{ type: 'mount' }]);
  // A container of a host-network pod that names no options (as crictl sends) is on the host's network too.
  assert.deepEqual(ns({}, { pod: hostPod }), [{ type: 'mount' }, { type: 'pid' }]);
  // Network and IPC are the pod's: a container cannot leave a pod's network namespace.
  assert.deepEqual(ns({ namespace_options: { network: 'NODE', ipc: 'NODE', pid: 'CONTAINER', target_id: '', userns_options: null } }).slice(1, 3), [{ type: 'network', path: '/run/netns/p' }, { type: 'ipc', path: '/run/ipc/p' }]);
  assert.deepEqual(ns({ namespace_options: { network: 'POD', ipc: 'POD', pid: 'TARGET', target_id: 'other', userns_options: null } }, { targetPid: 4321 }).at(-1), { type: 'pid', path: '/proc/4321/ns/pid' });
  assert.throws(() => ns({ namespace_options: { network: 'POD', ipc: 'POD', pid: 'TARGET', target_id: 'other', userns_options: null } }), /not running/);
});

test('pod files are mounted unless the request mounts the same path; request mounts keep propagation and readonly', () => {
  const mounts = buildSpec(input(container({ mounts: [
    mount({ container_path: '/etc/hosts', host_path: '/my/hosts' }),
    mount({ container_path: '/data/sub', host_path: '/h/sub', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }),
    mount({ container_path: '/data', host_path: '/h', readonly: true, propagation: 'PROPAGATION_BIDIRECTIONAL' }),
  ] }))).spec;
  const byDest = (d: string) => mounts.mounts.filter((m) => m.destination === d);
  assert.equal(byDest('/etc/hosts').length, 1);
  assert.equal(byDest('/etc/hosts')[0]!.source, '/my/hosts');
  assert.equal(byDest('/etc/hostname')[0]!.source, '/pod/hostname');
  assert.equal(byDest('/etc/resolv.conf')[0]!.source, '/pod/resolv.conf');
  assert.equal(byDest('/dev/shm')[0]!.source, '/pod/shm');
  assert.deepEqual(byDest('/data')[0]!.options, ['rbind', 'rshared', 'ro']);
  assert.deepEqual(byDest('/data/sub')[0]!.options, ['rbind', 'rslave']);
  const dests = mounts.mounts.map((m) => m.destination);
  assert.ok(dests.indexOf('/data') < dests.indexOf('/data/sub'), 'parents mount before children');
  assert.equal(mounts.linux.rootfsPropagation, 'rshared');
});

test('recursive read-only, image volumes and ID-mapped mounts are refused clearly', () => {
  assert.throws(() => buildSpec(input(container({ mounts: [mount({ container_path: '/d', host_path: '/h', readonly: true, recursive_read_only: true })] }))), /recursive read-only mounts are not supported/);
  assert.throws(() => buildSpec(input(container({ mounts: [mount({ container_path: 'rel', host_path: '/h' })] }))), /absolute/);
});

test('image VOLUMEs become empty directories under the container dir', () => {
  const result = buildSpec(input(container(), { image: { Cmd: ['x'], Volumes: { '/var/data': {} } } }));
  assert.equal(result.volumeDirs.length, 1);
  const m = result.spec.mounts.find((x) => x.destination === '/var/data')!;
  assert.equal(m.source, result.volumeDirs[0]);
  assert.ok(m.source.startsWith('/var/lib/runcri/containers/cid/volumes/'));
});

test('resources: cpu, memory, hugepages, pids; unified refused on cgroup v1; cgroup under the pod\'s', () => {
  const { spec } = buildSpec(input(container({}, {}, { cpu_shares: '512', cpu_quota: '50000', cpu_period: '100000', cpuset_cpus: '0', memory_limit_in_bytes: '67108864', memory_swap_limit_in_bytes: '67108864', hugepage_limits: [{ page_size: '2MB', limit: '0' }] }), { defaults: { ...DEFAULTS, pidsLimit: 100 } }));
  assert.deepEqual(spec.linux.resources.cpu, { shares: 512, quota: 50000, period: 100000, cpus: '0' });
  assert.deepEqual(spec.linux.resources.memory, { limit: 67108864, swap: 67108864 });
  assert.deepEqual(spec.linux.resources.hugepageLimits, [{ pageSize: '2MB', limit: 0 }]);
  assert.deepEqual(spec.linux.resources.pids, { limit: 100 });
  assert.equal(spec.linux.cgroupsPath, '/kubepods/podx/runcri-cid');
  assert.throws(() => buildSpec(input(container({}, {}, { unified: { 'memory.high': '1' } }))), /cgroup v2/);
});

test('oom_score_adj is clamped to the daemon\'s own when lowering is refused', () => {
  assert.equal(buildSpec(input(container({}, {}, { oom_score_adj: '-998' }))).spec.process.oomScoreAdj, -500);
  assert.equal(buildSpec(input(container({}, {}, { oom_score_adj: '1000' }))).spec.process.oomScoreAdj, 1000);
  assert.equal(buildSpec(input(container({}, {}, { oom_score_adj: '-998' }), { defaults: { ...DEFAULTS, oomRestriction: { restricted: false, own: 0 } } })).spec.process.oomScoreAdj, -998);
});

test('devices from the request become nodes and allow rules', () => {
  const dev = { hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rw', type: 'c' as const, major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 };
  const { spec } = buildSpec(input(container(), { devices: [dev] }));
  assert.deepEqual(spec.linux.devices, [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }]);
  assert.deepEqual(spec.linux.resources.devices, [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' }]);
  assert.throws(() => buildSpec(input(container(), { devices: [{ ...dev, permissions: 'rwx' }] })), /permissions/);
});

function cdiEdits(p: Partial<CdiEdits> = {}): CdiEdits {
  return { devices: ['vendor.com/dev=x'], env: [], deviceNodes: [], mounts: [], hooks: [], additionalGids: [], ...p };
}

test('CDI edits are applied last: variables set over the image\'s, nodes and rules added, a node at the same path replaced', () => {
  const requested = { hostPath: '/dev/null', containerPath: '/dev/gpu0', permissions: 'rwm', type: 'c' as const, major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 };
  const { spec } = buildSpec(input(container(), {
    devices: [requested],
    cdi: cdiEdits({
      env: ['A=cdi', 'VENDOR_VISIBLE=0'],
      deviceNodes: [
        { path: '/dev/gpu0', hostPath: '/dev/vendor0', type: 'c', major: 195, minor: 0, fileMode: 0o660, access: 'rw' },
        { path: '/dev/vendorctl', hostPath: '/dev/vendorctl', type: 'c', major: 195, minor: 255, access: '' },
      ],
    }),
  }));
  assert.deepEqual(spec.process.env.filter((e) => e.startsWith('A=') || e.startsWith('VENDOR')), ['A=cdi', 'VENDOR_VISIBLE=0']);
  assert.deepEqual(spec.linux.devices, [
    { type: 'c', path: '/dev/gpu0', major: 195, minor: 0, fileMode: 0o660 },
    { type: 'c', path: '/dev/vendorctl', major: 195, minor: 255 },
  ]);
  assert.deepEqual(spec.linux.resources.devices!.slice(-1), [{ allow: true, type: 'c', major: 195, minor: 0, access: 'rw' }], 'a node with permissions none gets no rule');
});

test('CDI mounts replace a mount at the same path and keep parents before children; hooks and GIDs join the spec', () => {
  const { spec, user } = buildSpec(input(container({ mounts: [mount({ container_path: '/opt/vendor/lib', host_path: '/srv/old' })] }, { run_as_user: { value: '1000' } }), {
    cdi: cdiEdits({
      deviceNodes: [{ path: '/dev/gpu0', hostPath: '/dev/gpu0', type: 'c', major: 195, minor: 0, access: 'rwm' }],
      mounts: [
        { hostPath: '/usr/lib/vendor', containerPath: '/opt/vendor/lib', options: ['ro', 'nosuid'] },
        { hostPath: '/usr/share/vendor', containerPath: '/opt', options: ['ro', 'rbind'] },
        { hostPath: 'tmpfs', containerPath: '/scratch', type: 'tmpfs', options: ['size=1m'] },
      ],
      hooks: [
        { hookName: 'createContainer', path: '/usr/bin/vendor-hook', args: ['vendor-hook', 'create'], env: ['X=1'], timeout: 5 },
        { hookName: 'poststop', path: '/usr/bin/vendor-hook', args: [], env: [] },
      ],
      additionalGids: [0, 44, 44, 1000],
    }),
  }));
  const dests = spec.mounts.map((m) => m.destination);
  assert.ok(dests.indexOf('/opt') < dests.indexOf('/opt/vendor/lib'), 'parent first');
  assert.deepEqual(spec.mounts.filter((m) => m.destination === '/opt/vendor/lib'), [{ destination: '/opt/vendor/lib', type: 'bind', source: '/usr/lib/vendor', options: ['ro', 'nosuid', 'bind'] }]);
  assert.deepEqual(spec.mounts.find((m) => m.destination === '/scratch'), { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
  assert.deepEqual(spec.hooks, {
    createContainer: [{ path: '/usr/bin/vendor-hook', args: ['vendor-hook', 'create'], env: ['X=1'], timeout: 5 }],
    poststop: [{ path: '/usr/bin/vendor-hook' }],
  });
  assert.deepEqual(spec.linux.devices.find((d) => d.path === '/dev/gpu0'), { type: 'c', path: '/dev/gpu0', major: 195, minor: 0, uid: 1000, gid: 1000 }, 'owned by the container user');
  // alice's own groups (1000, users, wheel), then the device's 44 once; 0 is ignored
  assert.deepEqual(spec.process.user.additionalGids, [1000, 100, 10, 44]);
  assert.deepEqual(user.groups, [1000, 100, 10, 44]);
});

test('no CDI devices, no CDI edits: the spec is what it was', () => {
  const plain = buildSpec(input(container())).spec;
  assert.deepEqual(buildSpec(input(container(), { cdi: cdiEdits({ devices: [] }) })).spec, plain);
  assert.equal(plain.hooks, undefined);
});

test('sysctls: namespaced ones pass, host-namespace and non-namespaced ones are refused', () => {
  const pod = (sysctls: Record<string, string>) => ({ ...input(container()).pod, config: podConfig(false, sysctls) });
  assert.deepEqual(buildSpec(input(container(), { pod: pod({ 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '100' }) })).spec.linux.sysctl, { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '100' });
  assert.throws(() => buildSpec(input(container(), { pod: pod({ 'vm.swappiness': '1' }) })), /not namespaced/);
  const hostNetworkPod = { ...input(container()).pod, config: { ...podWithNamespaces({ network: 'NODE', ipc: 'POD' }), linux: { ...podWithNamespaces({ network: 'NODE', ipc: 'POD' }).linux!, sysctls: { 'net.ipv4.ip_forward': '1' } } } };
  assert.throws(() => buildSpec(input(container(), { pod: hostNetworkPod })), /host network/);
});

test('rlimits, no_new_privs, tty and the stop signal', () => {
  const { spec, stopSignal } = buildSpec(input(container({ tty: true }, { no_new_privs: true }), { image: { Cmd: ['x'], StopSignal: 'SIGQUIT' } }));
  assert.deepEqual(spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 }]);
  assert.equal(spec.process.noNewPrivileges, true);
  assert.equal(spec.process.terminal, true);
  assert.equal(stopSignal, 'SIGQUIT');
  assert.equal(buildSpec(input(container({ stop_signal: 'SIGNAL_SIGINT' }), { image: { Cmd: ['x'], StopSignal: 'QUIT' } })).stopSignal, 'SIGINT');
  assert.equal(buildSpec(input(container())).stopSignal, 'SIGTERM');
});

test('cgroup paths: under the pod\'s directory for cgroupfs, slice:prefix:id for systemd', () => {
  const systemd = buildSpec(input(container(), { defaults: { ...DEFAULTS, cgroupDriver: 'systemd' }, pod: { ...input(container()).pod, cgroupParent: 'kubepods-besteffort-podx.slice' } })).spec;
  assert.equal(systemd.linux.cgroupsPath, 'kubepods-besteffort-podx.slice:runcri:cid');
  const noParent = buildSpec(input(container(), { pod: { ...input(container()).pod, cgroupParent: '' } })).spec;
  assert.equal(noParent.linux.cgroupsPath, '/runcri/runcri-cid');
});
