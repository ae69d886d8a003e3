import { hostname } from 'node:os';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../lib/config/index.js';
import { InvalidArgumentError } from '../../lib/errors/index.js';
import { hostsFile, resolvConf } from '../../lib/sandbox/files.js';
import { planPod } from '../../lib/sandbox/request.js';
import type { RunPodSandboxRequest__Output } from '../../lib/generated/runtime/v1/RunPodSandboxRequest.js';
import type { PodSandboxConfig__Output } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';

function request(config: Partial<PodSandboxConfig__Output>, handler = ''): RunPodSandboxRequest__Output {
  return {
    runtime_handler: handler,
    config: { metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 1 }, hostname: '', log_directory: '', dns_config: null, port_mappings: [], labels: {}, annotations: {}, linux: null, windows: null, ...config },
  };
}

it('writes resolv.conf from the DNS config, or copies the host one when none is given', () => {
  assert.equal(resolvConf({ servers: ['1.1.1.1', '8.8.8.8'], searches: ['a.local'], options: ['ndots:2', 'edns0'] }, () => 'host'), 'search a.local\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions ndots:2 edns0\n');
  assert.equal(resolvConf(null, () => 'host\n'), 'host\n');
  assert.equal(resolvConf({ servers: [], searches: [], options: [] }, () => 'host\n'), 'host\n');
});

it('writes hosts with localhost and the pod name on each pod IP', () => {
  const hosts = hostsFile('web', ['10.0.0.2', 'fd00::2']);
  assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
  assert.match(hosts, /^10\.0\.0\.2\tweb$/m);
  assert.match(hosts, /^fd00::2\tweb$/m);
});

it('plans a pod: defaults, the node\'s hostname when none is named, namespace modes, and the refusals', () => {
  const config = defaultConfig();
  const plan = planPod(request({}), config);
  assert.equal(plan.hostname, hostname());
  assert.equal(planPod(request({ metadata: { name: 'create-PodSandbox-with-DNS-config-0123456789abcdef0123456789abcdef', uid: 'u', namespace: 'n', attempt: 0 } }), config).hostname, hostname());
  assert.deepEqual(plan.namespaceOptions, { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' });
  assert.deepEqual(plan.metadata, { name: 'p', uid: 'u', namespace: 'n', attempt: 1 });
  assert.throws(() => planPod(request({}, 'kata'), config), /runtime handler "kata" is not configured \(have: runc\)/);
  assert.equal(planPod(request({}, 'runc'), config).runtimeHandler, 'runc');
  assert.throws(() => planPod(request({ metadata: { name: 'p', uid: '', namespace: 'n', attempt: 0 } }), config), /uid is required/);
  assert.throws(() => planPod(request({ hostname: 'h'.repeat(65) }), config), /config.hostname .* at most 64 bytes/);
  assert.equal(planPod(request({ hostname: 'h'.repeat(64) }), config).hostname, 'h'.repeat(64));
  assert.throws(() => planPod(request({ annotations: { 'kubernetes.io/ingress-bandwidth': 'lots' } }), config), InvalidArgumentError);
  assert.throws(() => planPod(request({ port_mappings: [{ protocol: 'TCP', container_port: 70000, host_port: 0, host_ip: '' }] }), config), /0-65535/);
  const linux = (ns: Record<string, string>) => ({ cgroup_parent: '', security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '', userns_options: null, ...ns } } as never, sysctls: {}, overhead: null, resources: null });
  assert.throws(() => planPod(request({ linux: linux({ pid: 'TARGET' }) }), config), /TARGET/);
  assert.equal(planPod(request({ linux: linux({ pid: 'POD', network: 'NODE' }) }), config).namespaceOptions.pid, 'POD');
});

it('refuses pod names, namespaces and UIDs that CNI_ARGS cannot carry, naming the field', () => {
  const config = defaultConfig();
  const md = (m: Partial<{ name: string; uid: string; namespace: string }>) => request({ metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0, ...m } });
  assert.throws(() => planPod(md({ name: 'web;IP=10.88.0.5' }), config), (err: Error) => err instanceof InvalidArgumentError && /config\.metadata\.name .* must not contain ";", "=" or NUL/.test(err.message));
  assert.throws(() => planPod(md({ namespace: 'default;K8S_POD_NAME=other' }), config), /config\.metadata\.namespace/);
  assert.throws(() => planPod(md({ uid: 'IP=10.88.0.5' }), config), /config\.metadata\.uid/);
  assert.throws(() => planPod(md({ name: 'a\0b' }), config), /config\.metadata\.name "a\\0b"/);
  assert.equal(planPod(md({ name: 'web-0.example', namespace: 'kube-system', uid: '0f8fad5b-d9cb-469f-a165-70867728950e' }), config).metadata.name, 'web-0.example');
});

it('keeps the pod\'s sysctls in the config by their dot-form names', () => {
  const linux = { cgroup_parent: '', security_context: null, sysctls: { 'net/ipv4/conf/all/forwarding': '1', 'kernel.shmmni': '4096' }, overhead: null, resources: null };
  const plan = planPod(request({ linux }), defaultConfig());
  assert.deepEqual(plan.config.linux?.sysctls, { 'net.ipv4.conf.all.forwarding': '1', 'kernel.shmmni': '4096' });
  assert.deepEqual(plan.sysctls.writes.map((w) => w.path), ['/proc/sys/net/ipv4/conf/all/forwarding', '/proc/sys/kernel/shmmni']);
});
