import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupManager } from '../../lib/cgroups/index.js';
import { NotFoundError } from '../../lib/errors/index.js';
import { silentLogger } from '../../lib/log/index.js';
import { ContainerEventBus, StatsService, type StatsContainer, type StatsPod } from '../../lib/stats/index.js';
import { RuntimeMetrics } from '../../lib/stats/metrics.js';
import { resolveIdPrefix } from '../../lib/util/ids.js';

const base = mkdtempSync('/tmp/rct-statsvc-');
after(() => rmSync(base, { recursive: true, force: true }));

function write(path: string, content: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
}

function cgroup(path: string, cpuUsec: number, memory: number): void {
  const dir = join(base, 'cg', path);
  write(join(dir, 'cpu.stat'), `usage_usec ${cpuUsec}\n`);
  write(join(dir, 'memory.current'), `${memory}\n`);
  write(join(dir, 'memory.max'), 'max\n');
  write(join(dir, 'memory.stat'), 'anon 100\ninactive_file 10\npgfault 1\npgmajfault 0\n');
  write(join(dir, 'memory.events'), 'oom 0\noom_kill 0\n');
  write(join(dir, 'pids.current'), '2\n');
}

const pod = (id: string, labels: Record<string, string> = {}): StatsPod => ({
  id, metadata: { name: `pod-${id}`, uid: `uid-${id}`, namespace: 'ns', attempt: 0 }, state: 'SANDBOX_READY', labels, annotations: {}, cgroupPath: `/pods/${id}`, namespacePaths: {},
});
const ctr = (id: string, podId: string, labels: Record<string, string> = {}, state = 'CONTAINER_RUNNING'): StatsContainer => ({
  id, podId, metadata: { name: `ctr-${id}`, attempt: 1 }, labels, annotations: {}, state, image: 'busybox:test', cgroupPath: `/pods/${podId}/${id}`, upperDir: join(base, 'upper', id),
});

const pods = [pod('aaa1', { app: 'x' }), pod('bbb2')];
const containers = [ctr('c1a', 'aaa1', { role: 'web' }), ctr('c2a', 'aaa1', {}, 'CONTAINER_CREATED'), ctr('c3b', 'bbb2', { role: 'web' })];
for (const p of pods) cgroup(p.cgroupPath, 3_000_000, 4096);
for (const c of containers) {
  cgroup(c.cgroupPath, 1_000_000, 2048);
  write(join(c.upperDir, 'file'), 'hello');
}

let now = 1_000_000_000_000n;
const metrics = new RuntimeMetrics({ processMetrics: false });
const service = new StatsService({
  cgroups: new CgroupManager({ version: 2, v1: [], unified: join(base, 'cg') }),
  pods: { get: (id) => resolveIdPrefix(new Map(pods.map((p) => [p.id, p])), id, 'pod sandbox'), list: () => pods },
  containers: { get: (id) => resolveIdPrefix(new Map(containers.map((c) => [c.id, c])), id, 'container'), list: () => containers },
  metrics,
  events: new ContainerEventBus({ capacity: 10, log: silentLogger() }),
  includedPodMetrics: ['cpu', 'memory', 'network', 'oom', 'disk', 'process'],
  now: () => now,
});

describe('stats service', () => {
  it('answers ContainerStats by ID prefix with the writable layer measured', async () => {
    const s = await service.containerStats('c1');
    assert.equal(s.attributes?.id, 'c1a');
    assert.equal(s.cpu?.usage_core_nano_seconds?.value, '1000000000');
    assert.equal(s.memory?.working_set_bytes?.value, '2038');
    assert.equal(s.writable_layer?.inodes_used?.value, '1');
    assert.ok(s.writable_layer?.fs_id?.mountpoint?.startsWith('/'));
  });

  it('refuses an unknown container with NOT_FOUND', async () => {
    await assert.rejects(service.containerStats('zzz'), NotFoundError);
    await assert.rejects(service.podStats('zzz'), NotFoundError);
  });

  it('lists created containers too, and filters by id, pod and labels; unknown filters give an empty list', async () => {
    assert.equal((await service.listContainerStats()).length, 3);
    assert.deepEqual((await service.listContainerStats({ podSandboxId: 'aaa1' })).map((s) => s.attributes?.id), ['c1a', 'c2a']);
    assert.deepEqual((await service.listContainerStats({ labelSelector: { role: 'web' } })).map((s) => s.attributes?.id), ['c1a', 'c3b']);
    assert.deepEqual((await service.listContainerStats({ id: 'c3b' })).map((s) => s.attributes?.id), ['c3b']);
    assert.deepEqual(await service.listContainerStats({ id: 'nope' }), []);
    assert.deepEqual(await service.listContainerStats({ podSandboxId: 'nope' }), []);
  });

  it('computes usage_nano_cores from the previous sample of the same container', async () => {
    now += 1_000_000_000n;
    await service.listContainerStats();
    cgroup(containers[0]!.cgroupPath, 1_500_000, 2048);
    now += 1_000_000_000n;
    const s = await service.containerStats('c1a');
    assert.equal(s.cpu?.usage_nano_cores?.value, '500000000');
  });

  it('gives pod stats with the pod cgroup, process count and the containers of that pod', async () => {
    const [s] = await service.listPodStats({ labelSelector: { app: 'x' } });
    assert.equal(s?.attributes?.id, 'aaa1');
    assert.equal(s?.linux?.cpu?.usage_core_nano_seconds?.value, '3000000000');
    assert.equal(s?.linux?.process?.process_count?.value, '2');
    assert.deepEqual(s?.linux?.containers?.map((c) => c.attributes?.id), ['c1a', 'c2a']);
    assert.equal(s?.linux?.network, null, 'a pod on the node network has no network stats of its own');
    assert.deepEqual(await service.listPodStats({ id: 'nope' }), []);
  });

  it('describes every metric with label keys matching the label values it sends', async () => {
    const descriptors = new Map(service.metricDescriptors().map((d) => [d.name, d.label_keys!]));
    assert.ok(descriptors.has('container_cpu_usage_seconds_total'));
    assert.ok(descriptors.has('container_network_receive_bytes_total'));
    const podMetrics = await service.podMetrics();
    assert.equal(podMetrics.length, 2);
    const all = podMetrics.flatMap((p) => [...p.metrics!, ...p.container_metrics!.flatMap((c) => c.metrics!)]);
    assert.ok(all.length > 0);
    for (const m of all) assert.equal(m.label_values!.length, descriptors.get(m.name!)!.length, m.name);
    const c1 = podMetrics[0]!.container_metrics!.find((c) => c.container_id === 'c1a')!;
    const cpu = c1.metrics!.find((m) => m.name === 'container_cpu_usage_seconds_total')!;
    assert.equal(cpu.metric_type, 'COUNTER');
    assert.deepEqual(cpu.label_values, ['ctr-c1a', 'c1a', 'busybox:test', 'c1a', 'ns', 'pod-aaa1']);
  });

  it('limits pod metrics to the configured groups and refuses unknown ones', () => {
    const narrow = new StatsService({
      cgroups: new CgroupManager({ version: 2, v1: [], unified: join(base, 'cg') }),
      pods: { get: () => pods[0]!, list: () => pods }, containers: { get: (id) => resolveIdPrefix(new Map(), id, 'container'), list: () => [] }, metrics: new RuntimeMetrics({ processMetrics: false }),
      events: new ContainerEventBus({ capacity: 1, log: silentLogger() }), includedPodMetrics: ['cpu'],
    });
    assert.deepEqual(narrow.metricDescriptors().map((d) => d.name), ['container_cpu_usage_seconds_total']);
    assert.throws(() => new StatsService({
      cgroups: new CgroupManager({ version: 2, v1: [], unified: base }), pods: { get: () => pods[0]!, list: () => [] }, containers: { get: (id) => resolveIdPrefix(new Map(), id, 'container'), list: () => [] },
      metrics: new RuntimeMetrics({ processMetrics: false }), events: new ContainerEventBus({ capacity: 1, log: silentLogger() }), includedPodMetrics: ['cpu', 'gpu'],
    }), /gpu/);
  });

  it('feeds pods and containers by state to the Prometheus registry', async () => {
    const text = await metrics.registry.metrics();
    assert.match(text, /runcri_containers\{state="CONTAINER_CREATED"\} 1/);
    assert.match(text, /runcri_pods\{state="SANDBOX_READY"\} 2/);
  });
});
