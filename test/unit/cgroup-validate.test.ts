import test from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/errors/index.js';
import { checkLinuxResources, checkPodLimits } from '../../lib/cgroups/index.js';
import type { LinuxContainerResources__Output } from '../../lib/generated/runtime/v1/LinuxContainerResources.js';

function resources(r: Partial<LinuxContainerResources__Output>): LinuxContainerResources__Output {
  return { cpu_period: '0', cpu_quota: '0', cpu_shares: '0', memory_limit_in_bytes: '0', oom_score_adj: '0', cpuset_cpus: '', cpuset_mems: '', hugepage_limits: [], unified: {}, memory_swap_limit_in_bytes: '0', ...r };
}

test('accepts what kubelet sends: unset (zero), -1 for unlimited, and ordinary limits', () => {
  for (const r of [
    {},
    { cpu_shares: '2' }, { cpu_shares: '262144' }, { cpu_period: '100000', cpu_quota: '50000' }, { cpu_quota: '-1' },
    { memory_limit_in_bytes: '67108864', memory_swap_limit_in_bytes: '67108864' }, { memory_limit_in_bytes: '-1', memory_swap_limit_in_bytes: '-1' },
    { cpuset_cpus: '0', cpuset_mems: '0' }, { oom_score_adj: '-1000' }, { hugepage_limits: [{ page_size: '2MB', limit: '0' }] },
  ]) assert.doesNotThrow(() => checkLinuxResources(resources(r), 'linux'), JSON.stringify(r));
});

test('refuses values the kernel or runc would refuse, naming the field', () => {
  const cases: [Partial<LinuxContainerResources__Output>, RegExp][] = [
    [{ cpu_shares: '1' }, /linux\.cpu_shares: 1 is outside 2\.\.262144/],
    [{ cpu_shares: '1000000000000' }, /cpu_shares/],
    [{ cpu_period: '1' }, /linux\.cpu_period: 1 is outside/],
    [{ cpu_period: '9223372036854775807' }, /cpu_period: .* out of range/],
    [{ cpu_quota: '-2' }, /cpu_quota: -2 must be -1/],
    [{ cpu_quota: '999' }, /cpu_quota/],
    [{ memory_limit_in_bytes: '-12281483' }, /memory_limit_in_bytes: -12281483/],
    [{ memory_swap_limit_in_bytes: '-4294967296' }, /memory_swap_limit_in_bytes/],
    [{ memory_limit_in_bytes: '67108864', memory_swap_limit_in_bytes: '1048576' }, /needs a memory_limit_in_bytes no higher/],
    [{ memory_swap_limit_in_bytes: '772759924' }, /needs a memory_limit_in_bytes/],
    [{ oom_score_adj: '1001' }, /oom_score_adj/],
    [{ cpuset_cpus: 'b15f305e10687773' }, /cpuset_cpus: "b15f305e10687773" is not a list/],
    [{ cpuset_cpus: '3-1' }, /runs backwards/],
    [{ cpuset_cpus: '0-4096' }, /CPU 4096 does not exist on this node/],
    [{ cpuset_mems: 'a;b=c' }, /cpuset_mems/],
    [{ hugepage_limits: [{ page_size: '/', limit: '1' }] }, /page size "\/"/],
    [{ hugepage_limits: [{ page_size: '3MB', limit: '1' }] }, /no 3MB huge pages/],
    [{ unified: { '../memory.max': '1' } }, /not a cgroup file name/],
  ];
  for (const [r, message] of cases) {
    assert.throws(() => checkLinuxResources(resources(r), 'linux'), (err: Error) => err instanceof InvalidArgumentError && message.test(err.message), JSON.stringify(r));
  }
});

test('refuses a pod whose resources and overhead together give a swap limit below the memory limit', () => {
  assert.doesNotThrow(() => checkPodLimits({ memoryLimit: 100n, memorySwapLimit: 100n }, 'config.linux'));
  assert.doesNotThrow(() => checkPodLimits({ memoryLimit: 100n }, 'config.linux'));
  assert.throws(() => checkPodLimits({ memoryLimit: 110n, memorySwapLimit: 100n }, 'config.linux'), /swap limit of 100 bytes against a memory limit of 110/);
  assert.throws(() => checkPodLimits({ memorySwapLimit: 100n }, 'config.linux'), /against a memory limit of none/);
});
