import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerFixture } from '../helpers/container-fixture.js';
import type { Image__Output } from '../../lib/generated/runtime/v1/Image.js';
import type { PodSandboxMetrics__Output } from '../../lib/generated/runtime/v1/PodSandboxMetrics.js';
import type { ContainerStats__Output } from '../../lib/generated/runtime/v1/ContainerStats.js';

let fx: ContainerFixture;

before(async () => {
  fx = await ContainerFixture.start({ busybox: { Cmd: ['/bin/sh'] }, other: { Cmd: ['/bin/sh'], Env: ['OTHER=1'] } });
});

after(async () => {
  await fx?.destroy();
});

it('StreamImages answers what ListImages answers, the image filter included', async () => {
  const listed = (await fx.client.image('ListImages', {})).images!;
  assert.equal(listed.length, 2);
  const streamed = (await fx.client.imageStream<{ images: Image__Output[] }>('StreamImages', {})).flatMap((b) => b.images);
  assert.deepEqual(streamed, listed);
  const filter = { image: { image: fx.image('other') } };
  const one = (await fx.client.imageStream<{ images: Image__Output[] }>('StreamImages', { filter })).flatMap((b) => b.images);
  assert.deepEqual(one, (await fx.client.image('ListImages', { filter })).images);
  assert.equal(one.length, 1);
});

it('StreamPodSandboxMetrics and StreamContainerStats cover the running pods and containers their List twins cover', { timeout: 60_000 }, async () => {
  const pods = [await fx.runPod(), await fx.runPod()];
  const containers = await Promise.all(pods.map((p) => fx.run(p, 'busybox', { command: ['/bin/sleep', '1000'] })));
  const listed = (await fx.client.runtime('ListPodSandboxMetrics', {})).pod_metrics!;
  const streamed = (await fx.client.runtimeStream<{ pod_sandbox_metrics: PodSandboxMetrics__Output[] }>('StreamPodSandboxMetrics', {})).flatMap((b) => b.pod_sandbox_metrics);
  const shape = (m: PodSandboxMetrics__Output[]) => m.map((p) => ({ pod: p.pod_sandbox_id, metrics: p.metrics.map((x) => x.name).sort(), containers: p.container_metrics.map((c) => c.container_id).sort() }));
  assert.deepEqual(shape(streamed), shape(listed));
  assert.deepEqual(new Set(streamed.map((m) => m.pod_sandbox_id)), new Set(pods.map((p) => p.id)));
  assert.ok(streamed.every((m) => m.metrics.length > 0 && m.container_metrics.length === 1));

  const stats = (await fx.client.runtimeStream<{ container_stats: ContainerStats__Output[] }>('StreamContainerStats', { filter: { pod_sandbox_id: pods[1]!.id } })).flatMap((b) => b.container_stats);
  assert.deepEqual(stats.map((s) => s.attributes!.id), [containers[1]]);
  assert.ok(Number(stats[0]!.memory!.working_set_bytes!.value) > 0, 'real figures, not empty records');
  for (const p of pods) await fx.removePod(p.id);
});
