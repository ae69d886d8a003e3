import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CgroupManager, podResources } from '../../lib/cgroups/index.js';
import { mergeResources, resizePodCgroup } from '../../lib/sandbox/resize.js';
import { isRuntimeError } from '../../lib/errors/index.js';
import type { PodRecord } from '../../lib/sandbox/index.js';
import type { LinuxContainerResources__Output } from '../../lib/generated/runtime/v1/LinuxContainerResources.js';

const MiB = 1024 * 1024;
const fixtures: string[] = [];
after(() => fixtures.forEach((d) => rmSync(d, { recursive: true, force: true })));

function res(r: Partial<Record<'cpu_period' | 'cpu_quota' | 'cpu_shares' | 'memory_limit_in_bytes' | 'memory_swap_limit_in_bytes', number>>): LinuxContainerResources__Output {
  const s = (n?: number) => String(n ?? 0);
  return {
    cpu_period: s(r.cpu_period), cpu_quota: s(r.cpu_quota), cpu_shares: s(r.cpu_shares), memory_limit_in_bytes: s(r.memory_limit_in_bytes),
    memory_swap_limit_in_bytes: s(r.memory_swap_limit_in_bytes), oom_score_adj: '0', cpuset_cpus: '', cpuset_mems: '', hugepage_limits: [], unified: {},
  };
}

function pod(cgroupPath: string, resources: LinuxContainerResources__Output | null, overhead: LinuxContainerResources__Output | null = null): PodRecord {
  return { id: 'pod1', cgroupPath, config: { linux: { resources, overhead } } } as unknown as PodRecord;
}

/** A v2 pod cgroup directory as the kernel shows it: the limit files and memory.current. */
function v2Fixture(usageBytes: number): { m: CgroupManager; dir: string } {
  const root = mkdtempSync(join(tmpdir(), 'rct-resize2-'));
  fixtures.push(root);
  const dir = join(root, 'kubepods', 'pod1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'memory.current'), `${usageBytes}\n`);
  writeFileSync(join(dir, 'memory.max'), 'max\n');
  writeFileSync(join(dir, 'cpu.max'), 'max 100000\n');
  return { m: new CgroupManager({ version: 2, v1: [], unified: root }), dir };
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim();

it('raises a v2 pod cgroup\'s memory and CPU limits, the overhead added, and returns what the pod now has', () => {
  const { m, dir } = v2Fixture(30 * MiB);
  const p = pod('/kubepods/pod1', res({ cpu_period: 100000, cpu_quota: 50000, cpu_shares: 512, memory_limit_in_bytes: 64 * MiB }), res({ memory_limit_in_bytes: 8 * MiB }));
  const now = resizePodCgroup(m, p, { resources: res({ cpu_period: 100000, cpu_quota: 150000, cpu_shares: 1536, memory_limit_in_bytes: 128 * MiB }), overhead: res({ memory_limit_in_bytes: 8 * MiB }) });
  assert.equal(read(dir, 'memory.max'), String(136 * MiB));
  assert.equal(read(dir, 'cpu.max'), '150000 100000');
  assert.equal(read(dir, 'cpu.weight'), '59');
  assert.equal(now.resources!.memory_limit_in_bytes, String(128 * MiB));
  assert.equal(now.overhead!.memory_limit_in_bytes, String(8 * MiB));
});

it('refuses a v2 memory limit below the pod\'s usage with FAILED_PRECONDITION, writing nothing', () => {
  const { m, dir } = v2Fixture(100 * MiB);
  const p = pod('/kubepods/pod1', res({ memory_limit_in_bytes: 256 * MiB }));
  assert.throws(() => resizePodCgroup(m, p, { resources: res({ cpu_quota: 20000, cpu_period: 100000, memory_limit_in_bytes: 64 * MiB }), overhead: null }), (err: unknown) =>
    isRuntimeError(err) && err.kind === 'failed_precondition' && /below the pod's current memory usage of 104857600 bytes/.test(err.message));
  assert.equal(read(dir, 'memory.max'), 'max');
  assert.equal(read(dir, 'cpu.max'), 'max 100000', 'the CPU part of a refused resize is not applied either');
  // just above the usage is fine
  resizePodCgroup(m, p, { resources: res({ memory_limit_in_bytes: 101 * MiB }), overhead: null });
  assert.equal(read(dir, 'memory.max'), String(101 * MiB));
});

it('keeps what a resize leaves unset: a memory-only update re-applies the pod\'s CPU quota', () => {
  const { m, dir } = v2Fixture(0);
  const p = pod('/kubepods/pod1', res({ cpu_period: 100000, cpu_quota: 50000, memory_limit_in_bytes: 64 * MiB }));
  const now = resizePodCgroup(m, p, { resources: res({ memory_limit_in_bytes: 96 * MiB }), overhead: null });
  assert.equal(read(dir, 'cpu.max'), '50000 100000');
  assert.equal(now.resources!.cpu_quota, '50000');
  assert.deepEqual(mergeResources(null, null), null);
  assert.equal(mergeResources(res({ cpu_shares: 2 }), res({ memory_limit_in_bytes: 5 }))!.cpu_shares, '2');
});

it('an overhead alone does not limit a pod whose containers have no limit', () => {
  assert.equal(podResources({ cpuShares: 2n }, { cpuShares: 10n, memoryLimit: 8n * 1024n, cpuQuota: 1000n, cpuPeriod: 100000n }).memoryLimit, undefined);
  assert.equal(podResources({ cpuShares: 2n }, { cpuShares: 10n, cpuQuota: 1000n, cpuPeriod: 100000n }).cpuQuota, undefined);
  assert.equal(podResources({ cpuShares: 2n }, { cpuShares: 10n }).cpuShares, 12n);
  const { m, dir } = v2Fixture(0);
  resizePodCgroup(m, pod('/kubepods/pod1', null), { resources: res({ cpu_shares: 1024 }), overhead: res({ memory_limit_in_bytes: 8 * MiB }) });
  assert.equal(read(dir, 'memory.max'), 'max');
});

it('writes a v1 pod cgroup\'s limits in each controller\'s hierarchy, checking usage_in_bytes', () => {
  const root = mkdtempSync(join(tmpdir(), 'rct-resize1-'));
  fixtures.push(root);
  for (const h of ['cpu', 'memory']) mkdirSync(join(root, h, 'kubepods', 'pod1'), { recursive: true });
  writeFileSync(join(root, 'memory', 'kubepods', 'pod1', 'memory.usage_in_bytes'), `${40 * MiB}\n`);
  const m = new CgroupManager({ version: 1, v1: ['cpu', 'memory'].map((h) => ({ mountPoint: join(root, h), controllers: [h] })) });
  const p = pod('/kubepods/pod1', res({ memory_limit_in_bytes: 64 * MiB }));
  resizePodCgroup(m, p, { resources: res({ cpu_period: 100000, cpu_quota: 200000, memory_limit_in_bytes: 48 * MiB }), overhead: null });
  assert.equal(read(join(root, 'memory', 'kubepods', 'pod1'), 'memory.limit_in_bytes'), String(48 * MiB));
  assert.equal(read(join(root, 'cpu', 'kubepods', 'pod1'), 'cpu.cfs_quota_us'), '200000');
  assert.throws(() => resizePodCgroup(m, p, { resources: res({ memory_limit_in_bytes: 32 * MiB }), overhead: null }), (err: unknown) => isRuntimeError(err) && err.kind === 'failed_precondition');
});

it('a pod whose cgroup is gone cannot be resized', () => {
  const { m } = v2Fixture(0);
  assert.throws(() => resizePodCgroup(m, pod('/kubepods/elsewhere', null), { resources: res({ memory_limit_in_bytes: MiB }), overhead: null }), (err: unknown) =>
    isRuntimeError(err) && err.kind === 'failed_precondition' && /has no cgroup/.test(err.message));
  assert.ok(!existsSync('/kubepods/elsewhere'));
});
