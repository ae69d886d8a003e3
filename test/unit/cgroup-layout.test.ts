import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CgroupManager, parseCgroupLayout, fromCri, podResources, sharesToWeight, v1Writes, v2Writes } from '../../lib/cgroups/index.js';

const HYBRID = `25 31 0:22 / /sys rw shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:29 /sub /mnt/cpu-bind rw - cgroup cgroup rw,cpu
`;
const UNIFIED = `30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

it('reads a hybrid host as v1 with each hierarchy separately, ignoring bind mounts of sub-cgroups', () => {
  const layout = parseCgroupLayout(HYBRID);
  assert.equal(layout.version, 1);
  assert.deepEqual(layout.v1, [
    { mountPoint: '/sys/fs/cgroup/cpu', controllers: ['cpu'] },
    { mountPoint: '/sys/fs/cgroup/cpuacct', controllers: ['cpuacct'] },
    { mountPoint: '/sys/fs/cgroup/memory', controllers: ['memory'] },
    { mountPoint: '/sys/fs/cgroup/systemd', controllers: ['name=systemd'] },
  ]);
  assert.equal(layout.unified, '/sys/fs/cgroup/unified');
});

it('reads a host whose /sys/fs/cgroup is cgroup2 as v2', () => {
  assert.deepEqual(parseCgroupLayout(UNIFIED), { version: 2, v1: [], unified: '/sys/fs/cgroup' });
});

it('translates CRI resources to v1 and v2 files, swap and shares converted as runc does', () => {
  const r = fromCri({ cpu_period: '100000', cpu_quota: '50000', cpu_shares: '1024', memory_limit_in_bytes: '1048576', memory_swap_limit_in_bytes: '2097152', oom_score_adj: '0', cpuset_cpus: '0-1', cpuset_mems: '', hugepage_limits: [{ page_size: '2MB', limit: '4194304' }], unified: {} });
  assert.deepEqual(v1Writes(r).map((w) => `${w.file}=${w.value}`), [
    'cpu.shares=1024', 'cpu.cfs_period_us=100000', 'cpu.cfs_quota_us=50000', 'cpuset.cpus=0-1',
    'memory.limit_in_bytes=1048576', 'memory.memsw.limit_in_bytes=2097152', 'hugetlb.2MB.limit_in_bytes=4194304',
  ]);
  assert.deepEqual(v2Writes(r).map((w) => `${w.file}=${w.value}`), [
    'cpu.weight=39', 'cpu.max=50000 100000', 'cpuset.cpus=0-1', 'memory.max=1048576', 'memory.swap.max=1048576', 'hugetlb.2MB.max=4194304',
  ]);
  assert.equal(sharesToWeight(2n), 1n);
  assert.equal(sharesToWeight(262144n), 10000n);
  assert.deepEqual(v2Writes(fromCri({ cpu_period: '0', cpu_quota: '0', cpu_shares: '0', memory_limit_in_bytes: '0', memory_swap_limit_in_bytes: '-1', oom_score_adj: '0', cpuset_cpus: '', cpuset_mems: '', hugepage_limits: [], unified: { 'memory.high': '1000' } })).map((w) => `${w.file}=${w.value}`), ['memory.swap.max=max', 'memory.high=1000']);
});

it('adds the pod overhead to the containers sum, quotas at a common period', () => {
  const sum = podResources({ cpuShares: 512n, cpuQuota: 50000n, cpuPeriod: 100000n, memoryLimit: 100n }, { cpuShares: 10n, cpuQuota: 5000n, cpuPeriod: 50000n, memoryLimit: 20n });
  assert.equal(sum.cpuShares, 522n);
  assert.equal(sum.cpuQuota, 60000n);
  assert.equal(sum.cpuPeriod, 100000n);
  assert.equal(sum.memoryLimit, 120n);
  assert.deepEqual(podResources({}, {}).memoryLimit, undefined);
});

const fixtures: string[] = [];
after(() => fixtures.forEach((d) => rmSync(d, { recursive: true, force: true })));

it('creates a v2 cgroup with controllers delegated down the tree, applies limits, and removes only what it made', async () => {
  const root = mkdtempSync(join(tmpdir(), 'rct-cg2-'));
  fixtures.push(root);
  writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
  writeFileSync(join(root, 'cgroup.subtree_control'), '');
  mkdirSync(join(root, 'kubepods'));
  writeFileSync(join(root, 'kubepods', 'cgroup.controllers'), 'cpu memory pids\n');
  writeFileSync(join(root, 'kubepods', 'cgroup.subtree_control'), '');
  const m = new CgroupManager({ version: 2, v1: [], unified: root });
  assert.deepEqual(m.missing('/kubepods/burstable/pod1'), ['/kubepods/burstable', '/kubepods/burstable/pod1']);
  // real cgroupfs creates the interface files itself; the fixture gives the new level its own
  const created = m.create('/kubepods/burstable');
  writeFileSync(join(root, 'kubepods', 'burstable', 'cgroup.controllers'), 'cpu memory pids\n');
  writeFileSync(join(root, 'kubepods', 'burstable', 'cgroup.subtree_control'), '');
  created.push(...m.create('/kubepods/burstable/pod1'));
  assert.deepEqual(created, ['/kubepods/burstable', '/kubepods/burstable/pod1']);
  // one controller per write (a refused one must not block the others); the fixture keeps the last
  assert.match(readFileSync(join(root, 'kubepods', 'cgroup.subtree_control'), 'utf8'), /^\+(cpu|memory|pids)$/);
  m.apply('/kubepods/burstable/pod1', { cpuShares: 1024n, memoryLimit: 1000n });
  assert.equal(readFileSync(join(root, 'kubepods/burstable/pod1/memory.max'), 'utf8'), '1000');
  assert.equal(m.read('/kubepods/burstable/pod1', 'cpu.weight'), '39');
  // the fixture's files make the directories non-empty; empty them as the kernel would on rmdir
  for (const f of ['memory.max', 'cpu.weight']) rmSync(join(root, 'kubepods/burstable/pod1', f));
  for (const f of ['cgroup.controllers', 'cgroup.subtree_control']) rmSync(join(root, 'kubepods/burstable', f));
  await m.remove('/kubepods/burstable/pod1', created);
  assert.ok(!existsSync(join(root, 'kubepods/burstable')));
  assert.ok(existsSync(join(root, 'kubepods')), 'a parent it did not make stays');
});

it('creates a v1 cgroup in every hierarchy, skips limits of hierarchies the host lacks, and removes it everywhere', async () => {
  const root = mkdtempSync(join(tmpdir(), 'rct-cg1-'));
  fixtures.push(root);
  for (const h of ['cpu', 'memory']) mkdirSync(join(root, h));
  const m = new CgroupManager({ version: 1, v1: ['cpu', 'memory'].map((h) => ({ mountPoint: join(root, h), controllers: [h] })) });
  assert.deepEqual(m.create('/a/p'), ['/a', '/a/p']);
  assert.ok(existsSync(join(root, 'cpu', 'a', 'p')) && existsSync(join(root, 'memory', 'a', 'p')));
  m.apply('/a/p', { cpuShares: 256n, hugepageLimits: [{ pageSize: '2MB', limit: 1n }] });
  assert.equal(readFileSync(join(root, 'cpu', 'a', 'p', 'cpu.shares'), 'utf8'), '256');
  rmSync(join(root, 'cpu', 'a', 'p', 'cpu.shares'));
  await m.remove('/a/p', ['/a', '/a/p']);
  assert.ok(!existsSync(join(root, 'cpu', 'a')) && !existsSync(join(root, 'memory', 'a')));
});
