import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { TestDaemon } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';

const MiB = 1024 * 1024;
let fx: ContainerFixture;

before(async () => {
  fx = await ContainerFixture.start({ busybox: { Cmd: ['/bin/sh'] } });
});

after(async () => {
  await fx?.destroy();
});

function cgroupFile(controller: 'memory' | 'cpu', podCgroup: string, file: string): string {
  return readFileSync(`/sys/fs/cgroup/${controller}${podCgroup}/${file}`, 'utf8').trim();
}

function resources(cpuQuota: number, cpuShares: number, memory: number) {
  return { cpu_period: 100000, cpu_quota: cpuQuota, cpu_shares: cpuShares, memory_limit_in_bytes: memory };
}

async function verboseResources(podId: string): Promise<{ resources: { memory_limit_in_bytes: string; cpu_quota: string }; overhead: unknown; cgroup: Record<string, string> }> {
  const status = await fx.client.runtime('PodSandboxStatus', { pod_sandbox_id: podId, verbose: true });
  return (JSON.parse(status.info!.info!) as { resources: never }).resources;
}

it('UpdatePodSandboxResources changes the pod cgroup\'s CPU and memory limits while its container keeps running', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod({ linux: { resources: resources(50000, 512, 64 * MiB), overhead: { memory_limit_in_bytes: 4 * MiB } } });
  const podCgroup = pod.config.linux!.cgroup_parent!;
  assert.equal(cgroupFile('memory', podCgroup, 'memory.limit_in_bytes'), String(68 * MiB));
  assert.equal(cgroupFile('cpu', podCgroup, 'cpu.cfs_quota_us'), '50000');
  const ctr = await fx.run(pod, 'busybox', { command: ['/bin/sh', '-c', 'sleep 1000'] });
  const before = await fx.status(ctr);

  await fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, resources: resources(150000, 1536, 128 * MiB), overhead: { memory_limit_in_bytes: 4 * MiB } });
  assert.equal(cgroupFile('memory', podCgroup, 'memory.limit_in_bytes'), String(132 * MiB));
  assert.equal(cgroupFile('cpu', podCgroup, 'cpu.cfs_quota_us'), '150000');
  assert.equal(cgroupFile('cpu', podCgroup, 'cpu.shares'), '1536');

  const after = await fx.status(ctr);
  assert.equal(after.state, 'CONTAINER_RUNNING');
  assert.equal(after.started_at, before.started_at, 'the container was not restarted');
  assert.equal((await fx.exec(ctr, ['/bin/echo', 'still here'])).stdout, 'still here\n');

  const shown = await verboseResources(pod.id);
  assert.equal(shown.resources.memory_limit_in_bytes, String(128 * MiB));
  assert.equal(shown.resources.cpu_quota, '150000');
  assert.equal(shown.cgroup['memory.limit_in_bytes'], String(132 * MiB));
  assert.equal(shown.cgroup['cpu.cfs_quota_us'], '150000');
  await fx.removePod(pod.id);
});

it('a memory limit below what the pod uses is refused with FAILED_PRECONDITION, the limit and the container untouched', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod({ linux: { resources: resources(100000, 1024, 128 * MiB) } });
  const podCgroup = pod.config.linux!.cgroup_parent!;
  // 40 MiB of tmpfs pages in the pod's /dev/shm, charged to the pod and not reclaimable
  const ctr = await fx.run(pod, 'busybox', { command: ['/bin/sh', '-c', 'head -c 41943040 /dev/zero > /dev/shm/fill && touch /tmp/filled && sleep 1000'] });
  for (let i = 0; i < 100 && (await fx.exec(ctr, ['/bin/test', '-e', '/tmp/filled'])).exitCode !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  const usage = Number(cgroupFile('memory', podCgroup, 'memory.usage_in_bytes'));
  assert.ok(usage >= 40 * MiB, `the pod uses ${usage} bytes`);

  const err = await expectCode(fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, resources: resources(100000, 1024, 16 * MiB) }), grpc.status.FAILED_PRECONDITION);
  assert.match(err.details, /memory limit of 16777216 bytes .* is below the pod's current memory usage/);
  assert.equal(cgroupFile('memory', podCgroup, 'memory.limit_in_bytes'), String(128 * MiB));
  assert.equal((await fx.status(ctr)).state, 'CONTAINER_RUNNING');
  assert.equal((await verboseResources(pod.id)).resources.memory_limit_in_bytes, String(128 * MiB), 'status still shows the limit in force');

  // a decrease that still fits what the pod uses goes through
  await fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, resources: resources(100000, 1024, 96 * MiB) });
  assert.equal(cgroupFile('memory', podCgroup, 'memory.limit_in_bytes'), String(96 * MiB));
  await fx.removePod(pod.id);
});

it('a pod CPU limit below one of its containers\' is refused with FAILED_PRECONDITION naming the cause', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod({ linux: { resources: resources(200000, 2048, 128 * MiB) } });
  const podCgroup = pod.config.linux!.cgroup_parent!;
  const ctr = await fx.run(pod, 'busybox', { command: ['/bin/sh', '-c', 'sleep 1000'], linux: { resources: resources(100000, 1024, 64 * MiB) } });
  const err = await expectCode(fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, resources: resources(50000, 512, 128 * MiB) }), grpc.status.FAILED_PRECONDITION);
  assert.match(err.details, /below one of its containers' quotas/);
  assert.equal(cgroupFile('cpu', podCgroup, 'cpu.cfs_quota_us'), '200000');
  // lowering the container first, as kubelet orders a decrease, lets the pod follow
  await fx.client.runtime('UpdateContainerResources', { container_id: ctr, linux: resources(40000, 512, 64 * MiB) });
  await fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, resources: resources(50000, 512, 128 * MiB) });
  assert.equal(cgroupFile('cpu', podCgroup, 'cpu.cfs_quota_us'), '50000');
  await fx.removePod(pod.id);
});

it('UpdatePodSandboxResources of an unknown pod is NOT_FOUND, of no pod INVALID_ARGUMENT', async () => {
  await expectCode(fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: 'f'.repeat(64), resources: resources(0, 2, MiB) }), grpc.status.NOT_FOUND);
  await expectCode(fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: '' }), grpc.status.INVALID_ARGUMENT);
});

it('the resized resources are what the pod has after a daemon restart', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod({ linux: { resources: resources(50000, 512, 64 * MiB) } });
  await fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, resources: resources(70000, 700, 80 * MiB) });
  await fx.daemon.stop();
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs });
  const shown = await verboseResources(pod.id);
  assert.equal(shown.resources.memory_limit_in_bytes, String(80 * MiB));
  assert.equal(shown.resources.cpu_quota, '70000');
  await fx.removePod(pod.id);
});
