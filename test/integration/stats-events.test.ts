import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type * as grpc from '@grpc/grpc-js';
import { TestDaemon, makeTestDirs } from '../helpers/daemon.js';
import { removeTestNetwork, writeTestNetwork, type TestNetwork } from '../helpers/cni.js';
import { TestRegistry, freePort } from '../helpers/registry.js';
import { buildImage, busyboxEntries, makeLayer, pushImage } from '../helpers/oci-image.js';
import type { ContainerEventResponse__Output } from '../../lib/generated/runtime/v1/ContainerEventResponse.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';
import { nowNanos } from '../../lib/util/time.js';

let daemon: TestDaemon;
let registry: TestRegistry;
let net: TestNetwork;
let image: string;
let metricsPort: number;
let podId: string;
const cgroupRoot = `/rct-events-${process.pid}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const podConfig: PodSandboxConfig = {
  metadata: { name: 'events', uid: 'uid-events', namespace: 'stats', attempt: 0 },
  linux: { cgroup_parent: `${cgroupRoot}/events` },
};

interface Received {
  event: ContainerEventResponse__Output;
  atNs: bigint;
}

/** A GetContainerEvents stream that records what arrives (or, with `read: false`, never reads). */
function subscribe(read: boolean): { call: grpc.ClientReadableStream<ContainerEventResponse__Output>; received: Received[] } {
  const call = daemon.client.runtimeClient.GetContainerEvents({}) as unknown as grpc.ClientReadableStream<ContainerEventResponse__Output>;
  const received: Received[] = [];
  call.on('error', () => undefined);
  if (read) call.on('data', (event: ContainerEventResponse__Output) => received.push({ event, atNs: nowNanos() }));
  return { call, received };
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = probe();
    if (v !== undefined) return v;
    await sleep(5);
  }
  throw new Error(`${what}: timed out`);
}

async function createContainer(name: string, script: string): Promise<string> {
  const res = await daemon.client.runtime('CreateContainer', {
    pod_sandbox_id: podId, sandbox_config: podConfig,
    config: { metadata: { name }, image: { image }, command: ['/bin/busybox', 'sh', '-c', script] },
  });
  return res.container_id!;
}

before(async () => {
  registry = await TestRegistry.start();
  await pushImage(registry.host, 'test/busybox', 'v1', buildImage([await makeLayer(busyboxEntries())]));
  image = `${registry.host}/test/busybox:v1`;
  const dirs = makeTestDirs();
  net = writeTestNetwork({ confDir: dirs.cniConf, stateDir: dirs.base });
  metricsPort = await freePort();
  daemon = await TestDaemon.start({ dirs, toml: `[metrics]\nenabled = true\nport = ${metricsPort}\n` });
  await daemon.client.image('PullImage', { image: { image } });
  podId = (await daemon.client.runtime('RunPodSandbox', { config: podConfig })).pod_sandbox_id!;
});

after(async () => {
  try {
    if (podId) {
      await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: podId });
      await daemon.client.runtime('RemovePodSandbox', { pod_sandbox_id: podId });
    }
  } finally {
    await daemon?.destroy();
    if (net) removeTestNetwork(net);
    await registry?.stop();
    for (const h of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified']) {
      spawnSync('find', [`/sys/fs/cgroup/${h}${cgroupRoot}`, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'], { stdio: 'ignore' });
    }
  }
});

describe('GetContainerEvents', () => {
  it('delivers created, started, stopped, deleted in order to one subscriber while another never reads', async () => {
    const reader = subscribe(true);
    const stalled = subscribe(false);
    try {
      await sleep(100);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assert.match(metrics, /^runcri_container_event_subscribers 2$/m);
      const id = await createContainer('cycle', 'sleep 1000');
      await daemon.client.runtime('StartContainer', { container_id: id });
      await daemon.client.runtime('StopContainer', { container_id: id, timeout: 0 });
      await daemon.client.runtime('RemoveContainer', { container_id: id });
      const mine = await waitFor('four events', () => {
        const list = reader.received.filter((r) => r.event.container_id === id);
        return list.length >= 4 ? list : undefined;
      });
      assert.deepEqual(mine.map((r) => r.event.container_event_type), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
      const started = mine[1]!.event;
      assert.equal(started.pod_sandbox_status?.id, podId);
      assert.equal(started.containers_statuses.find((s) => s.id === id)?.state, 'CONTAINER_RUNNING');
      assert.ok(BigInt(started.created_at) > 1_600_000_000_000_000_000n);
    } finally {
      reader.call.cancel();
      stalled.call.cancel();
    }
    const deadline = Date.now() + 5000;
    let text = '';
    while (Date.now() < deadline) {
      text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      if (/^runcri_container_event_subscribers 0$/m.test(text)) break;
      await sleep(50);
    }
    assert.match(text, /^runcri_container_event_subscribers 0$/m, 'cancelled streams are cleaned up');
  });

  it('reports a container exit in ContainerStatus and as an event within 100 ms', async () => {
    const reader = subscribe(true);
    try {
      const id = await createContainer('exiter', 'sleep 0.3; exit 3');
      await daemon.client.runtime('StartContainer', { container_id: id });
      const stopped = await waitFor('the stopped event', () => reader.received.find((r) => r.event.container_id === id && r.event.container_event_type === 'CONTAINER_STOPPED_EVENT'));
      const status = (await daemon.client.runtime('ContainerStatus', { container_id: id })).status!;
      assert.equal(status.state, 'CONTAINER_EXITED');
      assert.equal(status.exit_code, 3);
      const finished = BigInt(status.finished_at!);
      const lagMs = Number(stopped.atNs - finished) / 1e6;
      assert.ok(lagMs < 100, `exit seen ${lagMs.toFixed(1)} ms after it happened`);
      await daemon.client.runtime('RemoveContainer', { container_id: id });
    } finally {
      reader.call.cancel();
    }
  });
});
