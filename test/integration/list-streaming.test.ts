import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, makeTestDirs, removeTestDirs, type TestDirs } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { seedRecords, type Seeded } from '../helpers/seed-records.js';
import { loadCriProto } from '../../lib/server/proto.js';
import { STREAM_BATCH_BYTES } from '../../lib/server/stream-batches.js';
import type { Container__Output } from '../../lib/generated/runtime/v1/Container.js';
import type { PodSandbox__Output } from '../../lib/generated/runtime/v1/PodSandbox.js';
import type { ContainerStats__Output } from '../../lib/generated/runtime/v1/ContainerStats.js';
import type { PodSandboxStats__Output } from '../../lib/generated/runtime/v1/PodSandboxStats.js';

const CONTAINERS = 5000;
const PODS = 250;
const service = loadCriProto().runtime.v1.RuntimeService.service;

let dirs: TestDirs;
let seeded: Seeded;
let daemon: TestDaemon;

before(async () => {
  dirs = makeTestDirs();
  seeded = seedRecords(dirs.root, dirs.base, PODS, CONTAINERS);
  daemon = await TestDaemon.start({ dirs, logLevel: 'warn' });
});

after(async () => {
  await daemon?.stop();
  if (dirs) removeTestDirs(dirs);
});

async function streamContainers(filter: object = {}): Promise<{ containers: Container__Output[] }[]> {
  return daemon.client.runtimeStream('StreamContainers', { filter });
}

it(`StreamContainers answers the ${CONTAINERS} containers ListContainers answers, in batches of at most ${STREAM_BATCH_BYTES} bytes`, { timeout: 60_000 }, async () => {
  const listed = (await daemon.client.runtime('ListContainers', {})).containers!;
  assert.equal(listed.length, CONTAINERS);
  const wire = await daemon.client.runtimeStreamBytes('StreamContainers', { filter: {} });
  assert.ok(wire.length > 1, `the list came in ${wire.length} message(s)`);
  for (const bytes of wire) assert.ok(bytes.length <= STREAM_BATCH_BYTES, `a batch of ${bytes.length} bytes`);
  const batches = wire.map((b) => service.StreamContainers!.responseDeserialize(b) as { containers: Container__Output[] });
  for (const b of batches) assert.ok(b.containers.length > 0, 'no empty batch');
  assert.deepEqual(batches.flatMap((b) => b.containers), listed);
  assert.deepEqual((await streamContainers()).flatMap((b) => b.containers), listed, 'the typed client reads the same');
  assert.deepEqual(new Set(listed.map((c) => c.id)), new Set(seeded.containerIds));
});

it('StreamContainers applies the ListContainers filters: pod, labels, state and ID prefix', { timeout: 60_000 }, async () => {
  const filters: object[] = [
    { pod_sandbox_id: seeded.podIds[7] },
    { label_selector: { tier: 'db' } },
    { label_selector: { tier: 'db', 'io.kubernetes.pod.namespace': 'team-a' } },
    { state: { state: 'CONTAINER_EXITED' } },
    { state: { state: 'CONTAINER_RUNNING' } },
    { id: seeded.containerIds[42]!.slice(0, 62) },
    { pod_sandbox_id: 'no-such-pod' },
  ];
  for (const filter of filters) {
    const listed = (await daemon.client.runtime('ListContainers', { filter })).containers!;
    const streamed = (await streamContainers(filter)).flatMap((b) => b.containers);
    assert.deepEqual(streamed, listed, `filter ${JSON.stringify(filter)}`);
  }
  assert.equal((await streamContainers({ label_selector: { tier: 'db' } })).flatMap((b) => b.containers).length, CONTAINERS / 5);
});

it('StreamPodSandboxes answers what ListPodSandbox answers, filters included', { timeout: 60_000 }, async () => {
  const filters: object[] = [{}, { label_selector: { app: 'app-3' } }, { id: seeded.podIds[3] }, { state: { state: 'SANDBOX_READY' } }];
  for (const filter of filters) {
    const listed = (await daemon.client.runtime('ListPodSandbox', { filter })).items!;
    const streamed = (await daemon.client.runtimeStream<{ pod_sandboxes: PodSandbox__Output[] }>('StreamPodSandboxes', { filter })).flatMap((b) => b.pod_sandboxes);
    assert.deepEqual(streamed, listed, `filter ${JSON.stringify(filter)}`);
  }
  assert.equal((await daemon.client.runtime('ListPodSandbox', {})).items!.length, PODS);
});

it('StreamContainerStats and StreamPodSandboxStats cover the objects their List twins cover', { timeout: 120_000 }, async () => {
  const ids = (stats: { attributes: { id: string } | null }[]) => stats.map((s) => s.attributes!.id);
  const filter = { pod_sandbox_id: seeded.podIds[11] };
  const listed = (await daemon.client.runtime('ListContainerStats', { filter })).stats!;
  const streamed = (await daemon.client.runtimeStream<{ container_stats: ContainerStats__Output[] }>('StreamContainerStats', { filter })).flatMap((b) => b.container_stats);
  assert.equal(listed.length, CONTAINERS / PODS);
  assert.deepEqual(ids(streamed), ids(listed));
  const all = (await daemon.client.runtimeStream<{ container_stats: ContainerStats__Output[] }>('StreamContainerStats', {})).flatMap((b) => b.container_stats);
  assert.deepEqual(new Set(ids(all)), new Set(seeded.containerIds));

  const podsListed = (await daemon.client.runtime('ListPodSandboxStats', {})).stats!;
  const podsStreamed = (await daemon.client.runtimeStream<{ pod_sandbox_stats: PodSandboxStats__Output[] }>('StreamPodSandboxStats', {})).flatMap((b) => b.pod_sandbox_stats);
  assert.deepEqual(ids(podsStreamed), ids(podsListed));
  assert.equal(podsStreamed.length, PODS);
});

it('a stream with nothing to list ends at once, without a message', async () => {
  assert.deepEqual((await daemon.client.runtime('ListPodSandboxMetrics', {})).pod_metrics, []);
  assert.deepEqual(await daemon.client.runtimeStream('StreamPodSandboxMetrics', {}), []);
  assert.deepEqual((await daemon.client.image('ListImages', {})).images, []);
  assert.deepEqual(await daemon.client.imageStream('StreamImages', {}), []);
});

it('under a message limit smaller than the list, ListContainers is refused and StreamContainers still answers every container', { timeout: 60_000 }, async () => {
  await daemon.stop();
  daemon = await TestDaemon.start({ dirs, logLevel: 'warn', toml: 'max_message_bytes = 1048576\n' });
  await expectCode(daemon.client.runtime('ListContainers', {}), grpc.status.RESOURCE_EXHAUSTED);
  const wire = await daemon.client.runtimeStreamBytes('StreamContainers', { filter: {} });
  for (const bytes of wire) assert.ok(bytes.length <= 512 * 1024, `a batch of ${bytes.length} bytes is over half the configured limit`);
  const ids = wire.flatMap((b) => (service.StreamContainers!.responseDeserialize(b) as { containers: Container__Output[] }).containers.map((c) => c.id));
  assert.deepEqual(new Set(ids), new Set(seeded.containerIds));
  assert.equal(ids.length, CONTAINERS);
});
