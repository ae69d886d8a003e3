import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import type { TestDaemon } from '../helpers/daemon.js';
import { destroyDaemonOnTestNetwork, startDaemonOnTestNetwork } from '../helpers/networked-daemon.js';
import { mountsBelow } from '../helpers/system.js';
import { allocatedIps, vethsOn, type TestNetwork } from '../helpers/cni.js';

const PODS = 50;
let daemon: TestDaemon;
let net: TestNetwork;

before(async () => {
  ({ daemon, net } = await startDaemonOnTestNetwork());
});

after(async () => {
  await destroyDaemonOnTestNetwork(daemon, net);
});

it(`runs, stops and removes ${PODS} pods concurrently without leaking anything`, { timeout: 110_000 }, async () => {
  const ids = await Promise.all(Array.from({ length: PODS }, (_, i) => daemon.client.runtime('RunPodSandbox', {
    config: { metadata: { name: `scale-${i}`, uid: `uid-scale-${i}`, namespace: 'scale', attempt: 0 }, port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 31000 + i }] },
  }).then((r) => r.pod_sandbox_id!)));
  const ips = await Promise.all(ids.map(async (id) => (await daemon.client.runtime('PodSandboxStatus', { pod_sandbox_id: id })).status!.network!.ip!));
  assert.equal(new Set(ips).size, PODS, 'every pod got its own IP');
  assert.equal(allocatedIps(net).length, PODS);
  assert.equal(vethsOn(net).length, PODS);
  await Promise.all(ids.map(async (id) => {
    await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
    await daemon.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
  }));
  assert.deepEqual((await daemon.client.runtime('ListPodSandbox', {})).items, []);
  const state = daemon.dirs.state;
  assert.deepEqual(mountsBelow(state).filter((m) => m !== `${state}/ns`), []);
  assert.deepEqual(readdirSync(`${state}/ns`), []);
  assert.deepEqual(existsSync(`${state}/pods`) ? readdirSync(`${state}/pods`) : [], []);
  assert.deepEqual(allocatedIps(net), []);
  assert.deepEqual(vethsOn(net), []);
  for (const id of ids) assert.ok(!existsSync(`/sys/fs/cgroup/memory/runcri/pod${id}`));
});
