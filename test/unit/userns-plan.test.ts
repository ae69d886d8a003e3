import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PodSandboxConfig__Output } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';
import type { NamespaceOption__Output } from '../../lib/generated/runtime/v1/NamespaceOption.js';
import type { IDMapping__Output } from '../../lib/generated/runtime/v1/IDMapping.js';
import { planUserNamespace } from '../../lib/sandbox/userns.js';
import { planNamespaces } from '../../lib/container/spec/namespaces.js';
import type { PodContext } from '../../lib/container/spec/index.js';
import { InvalidArgumentError } from '../../lib/errors/index.js';

const MAP: IDMapping__Output = { container_id: 0, host_id: 100000, length: 65536 };

function nsOptions(p: Partial<NamespaceOption__Output>): NamespaceOption__Output {
  return { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '', userns_options: null, ...p };
}

function pod(ns: Partial<NamespaceOption__Output> | null, privileged = false): PodSandboxConfig__Output {
  return {
    metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 }, hostname: '', log_directory: '', dns_config: null, port_mappings: [], labels: {}, annotations: {},
    linux: {
      cgroup_parent: '', sysctls: {}, overhead: null, resources: null,
      security_context: ns === null ? null : {
        namespace_options: nsOptions(ns), selinux_options: null, run_as_user: null, readonly_rootfs: false, supplemental_groups: [], privileged,
        seccomp_profile_path: '', run_as_group: null, seccomp: null, apparmor: null, supplemental_groups_policy: 'Merge',
      },
    },
    windows: null,
  };
}

const podMode = (uids: IDMapping__Output[], gids: IDMapping__Output[], extra: Partial<NamespaceOption__Output> = {}) => pod({ userns_options: { mode: 'POD', uids, gids }, ...extra });

test('no userns_options, or mode NODE without mappings, means the node\'s user namespace', () => {
  assert.equal(planUserNamespace(pod(null)), undefined);
  assert.equal(planUserNamespace(pod({})), undefined);
  assert.equal(planUserNamespace(pod({ userns_options: { mode: 'NODE', uids: [], gids: [] } })), undefined);
});

test('mode POD with one uid and one gid mapping of container ID 0 gives those mappings', () => {
  assert.deepEqual(planUserNamespace(podMode([MAP], [{ container_id: 0, host_id: 200000, length: 1000 }])), {
    uids: [{ containerId: 0, hostId: 100000, size: 65536 }],
    gids: [{ containerId: 0, hostId: 200000, size: 1000 }],
  });
});

test('every refused form is INVALID_ARGUMENT with its reason', () => {
  const refused: [PodSandboxConfig__Output, RegExp][] = [
    [pod({ userns_options: { mode: 'CONTAINER', uids: [MAP], gids: [MAP] } }), /CONTAINER is not supported/],
    [pod({ userns_options: { mode: 'TARGET', uids: [MAP], gids: [MAP] } }), /TARGET is not supported/],
    [pod({ userns_options: { mode: 'NODE', uids: [MAP], gids: [] } }), /NODE takes no uid or gid mappings/],
    [podMode([MAP, { container_id: 65536, host_id: 0, length: 1 }], [MAP]), /exactly one uid mapping, got 2/],
    [podMode([MAP], []), /exactly one gid mapping, got 0/],
    [podMode([{ container_id: 1, host_id: 100001, length: 10 }], [MAP]), /must map container ID 0/],
    [podMode([{ container_id: 0, host_id: 100000, length: 0 }], [MAP]), /length must be positive/],
    [podMode([{ container_id: 0, host_id: 4294967000, length: 65536 }], [MAP]), /highest ID/],
    [podMode([{ container_id: 0, host_id: 0, length: 65536 }], [MAP]), /node's root/],
    [podMode([MAP], [MAP], { network: 'NODE' }), /node's network namespace/],
    [podMode([MAP], [MAP], { ipc: 'NODE' }), /node's ipc namespace/],
    [podMode([MAP], [MAP], { pid: 'NODE' }), /node's pid namespace/],
    [pod({ userns_options: { mode: 'POD', uids: [MAP], gids: [MAP] } }, true), /privileged pod/],
  ];
  for (const [config, reason] of refused) {
    assert.throws(() => planUserNamespace(config), (err: unknown) => err instanceof InvalidArgumentError && reason.test(err.message), String(reason));
  }
});

const podContext = (userns: boolean): PodContext => ({
  id: 'p', config: pod(null), cgroupParent: '', files: {},
  namespaces: { network: '/ns/net', ipc: '/ns/ipc', uts: '/ns/uts' },
  ...(userns ? { userNamespace: { path: '/ns/user', uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] } } : {}),
});

test('containers of a user-namespaced pod join its user namespace, whether or not they repeat userns_options', () => {
  for (const opts of [null, nsOptions({ userns_options: { mode: 'POD', uids: [MAP], gids: [MAP] } })]) {
    const plan = planNamespaces(opts, podContext(true), undefined);
    assert.deepEqual(plan.namespaces.find((n) => n.type === 'user'), { type: 'user', path: '/ns/user' });
    assert.deepEqual(plan.namespaces.find((n) => n.type === 'network'), { type: 'network', path: '/ns/net' });
  }
  assert.equal(planNamespaces(null, podContext(false), undefined).namespaces.some((n) => n.type === 'user'), false);
});

test('a container cannot leave or invent its pod\'s user namespace', () => {
  const ask = (mode: 'POD' | 'NODE' | 'CONTAINER' | 'TARGET') => nsOptions({ userns_options: { mode, uids: [], gids: [] } });
  assert.throws(() => planNamespaces(ask('POD'), podContext(false), undefined), /pod sandbox has no user namespace/);
  assert.throws(() => planNamespaces(ask('NODE'), podContext(true), undefined), /belong to its own user namespace/);
  assert.throws(() => planNamespaces(ask('CONTAINER'), podContext(true), undefined), /CONTAINER is not supported/);
  assert.throws(() => planNamespaces(ask('TARGET'), podContext(true), undefined), /TARGET is not supported/);
});
