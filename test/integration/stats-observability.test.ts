import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, makeTestDirs } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { inNetns, removeTestNetwork, writeTestNetwork, type TestNetwork } from '../helpers/cni.js';
import { TestRegistry, freePort } from '../helpers/registry.js';
import { buildImage, busyboxEntries, makeLayer, pushImage } from '../helpers/oci-image.js';
import type { ContainerStats__Output } from '../../lib/generated/runtime/v1/ContainerStats.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';

let daemon: TestDaemon;
let registry: TestRegistry;
let net: TestNetwork;
let image: string;
let metricsPort: number;
const cgroupRoot = `/rct-stats-${process.pid}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function podConfig(name: string): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'stats', attempt: 0 },
    labels: { suite: 'stats', pod: name },
    linux: { cgroup_parent: `${cgroupRoot}/${name}` },
  };
}

async function runPod(name: string): Promise<string> {
  return (await daemon.client.runtime('RunPodSandbox', { config: podConfig(name) })).pod_sandbox_id!;
}

async function createContainer(podId: string, podName: string, name: string, script: string, labels: Record<string, string> = {}): Promise<string> {
  const res = await daemon.client.runtime('CreateContainer', {
    pod_sandbox_id: podId,
    sandbox_config: podConfig(podName),
    config: { metadata: { name }, image: { image }, command: ['/bin/busybox', 'sh', '-c', script], labels: { ctr: name, ...labels } },
  });
  return res.container_id!;
}

async function statsOf(id: string): Promise<ContainerStats__Output> {
  return (await daemon.client.runtime('ContainerStats', { container_id: id })).stats as ContainerStats__Output;
}

const u64 = (v: { value?: string | number } | null | undefined): number => Number(v?.value ?? 0);

/** Polls `probe` until it returns a value, or fails with the last observation. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(200);
  }
  last = await probe();
  throw new Error(`${what}: not reached in ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

before(async () => {
  registry = await TestRegistry.start();
  await pushImage(registry.host, 'test/busybox', 'v1', buildImage([await makeLayer(busyboxEntries())]));
  image = `${registry.host}/test/busybox:v1`;
  const dirs = makeTestDirs();
  net = writeTestNetwork({ confDir: dirs.cniConf, stateDir: dirs.base });
  metricsPort = await freePort();
  daemon = await TestDaemon.start({ dirs, toml: `[metrics]\nenabled = true\naddress = "127.0.0.1"\nport = ${metricsPort}\n` });
  await daemon.client.image('PullImage', { image: { image } });
});

after(async () => {
  try {
    for (const p of (await daemon?.client.runtime('ListPodSandbox', {}))?.items ?? []) {
      await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: p.id });
      await daemon.client.runtime('RemovePodSandbox', { pod_sandbox_id: p.id });
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

describe('container and pod stats over the socket', () => {
  let podA: string;
  let burner: string;

  before(async () => {
    podA = await runPod('stats-a');
    // 32 MiB in the pod's /dev/shm (charged to the container's memory), 8 MiB in its writable layer, then a busy loop
    burner = await createContainer(podA, 'stats-a', 'burner',
      'busybox dd if=/dev/zero of=/dev/shm/fill bs=1M count=32 2>/dev/null; busybox dd if=/dev/zero of=/written bs=1M count=8 2>/dev/null; while :; do :; done',
      { role: 'burn' });
  });

  it('lists a created, not yet started container with zero usage', async () => {
    const list = (await daemon.client.runtime('ListContainerStats', { filter: { id: burner } })).stats!;
    assert.equal(list.length, 1);
    assert.equal(list[0]!.attributes?.id, burner);
    assert.equal(list[0]!.attributes?.labels?.role, 'burn');
    assert.ok(u64(list[0]!.memory?.working_set_bytes) < 16 * 1024 * 1024);
  });

  it('shows CPU and memory rising and the writable layer growing as the container works', async () => {
    const before = await statsOf(burner);
    await daemon.client.runtime('StartContainer', { container_id: burner });
    const after = await eventually('usage to rise', async () => {
      const s = await statsOf(burner);
      const ok = u64(s.cpu?.usage_core_nano_seconds) > u64(before.cpu?.usage_core_nano_seconds) + 300e6 &&
        u64(s.memory?.working_set_bytes) >= 32 * 1024 * 1024 &&
        u64(s.writable_layer?.used_bytes) >= 8 * 1024 * 1024 && u64(s.cpu?.usage_nano_cores) > 0;
      return ok ? s : undefined;
    });
    // a busy loop on this 2-core machine: somewhere between a third of a core and two cores
    const cores = u64(after.cpu?.usage_nano_cores) / 1e9;
    assert.ok(cores > 0.3 && cores < 2.2, `usage_nano_cores ${cores}`);
    assert.ok(u64(after.writable_layer?.inodes_used) >= 1);
    assert.ok(after.writable_layer?.fs_id?.mountpoint?.startsWith('/'));
    assert.ok(BigInt(after.cpu!.timestamp) > 1_600_000_000_000_000_000n, 'timestamps are int64 nanoseconds');
    assert.ok(u64(after.memory?.usage_bytes) >= u64(after.memory?.working_set_bytes));
  });

  it('filters ListContainerStats by pod and label, and answers unknown IDs with NOT_FOUND or an empty list', async () => {
    const idle = await createContainer(podA, 'stats-a', 'idle', 'sleep 1000');
    const byPod = (await daemon.client.runtime('ListContainerStats', { filter: { pod_sandbox_id: podA } })).stats!.map((s) => s.attributes?.id).sort();
    assert.deepEqual(byPod, [burner, idle].sort());
    const byLabel = (await daemon.client.runtime('ListContainerStats', { filter: { label_selector: { role: 'burn' } } })).stats!.map((s) => s.attributes?.id);
    assert.deepEqual(byLabel, [burner]);
    assert.deepEqual((await daemon.client.runtime('ListContainerStats', { filter: { id: 'f'.repeat(64) } })).stats, []);
    assert.deepEqual((await daemon.client.runtime('ListContainerStats', { filter: { pod_sandbox_id: 'f'.repeat(64) } })).stats, []);
    assert.deepEqual((await daemon.client.runtime('ListPodSandboxStats', { filter: { id: 'f'.repeat(64) } })).stats, []);
    await expectCode(daemon.client.runtime('ContainerStats', { container_id: 'f'.repeat(64) }), grpc.status.NOT_FOUND);
    await expectCode(daemon.client.runtime('PodSandboxStats', { pod_sandbox_id: 'f'.repeat(64) }), grpc.status.NOT_FOUND);
    await expectCode(daemon.client.runtime('ContainerStats', { container_id: '' }), grpc.status.INVALID_ARGUMENT);
  });

  it('gives pod stats with the pod cgroup, process count and its containers', async () => {
    const s = (await daemon.client.runtime('PodSandboxStats', { pod_sandbox_id: podA })).stats!;
    assert.equal(s.attributes?.id, podA);
    assert.ok(u64(s.linux?.cpu?.usage_core_nano_seconds) > 300e6, 'the pod cgroup holds its containers\' CPU');
    assert.ok(u64(s.linux?.memory?.working_set_bytes) >= 32 * 1024 * 1024);
    assert.ok(u64(s.linux?.process?.process_count) >= 1);
    assert.equal(s.linux?.containers?.length, 2);
    assert.equal(s.linux?.network?.default_interface?.name, 'eth0');
  });

  it('moves the pod network counters after a ping between two pods', async () => {
    const podB = await runPod('stats-b');
    const status = await daemon.client.runtime('PodSandboxStatus', { pod_sandbox_id: podA, verbose: true });
    const netnsA = (JSON.parse(status.info!.info!) as { namespacePaths: { net: string } }).namespacePaths.net;
    const ipB = (await daemon.client.runtime('PodSandboxStatus', { pod_sandbox_id: podB })).status!.network!.ip!;
    const rxOf = async () => {
      const s = (await daemon.client.runtime('ListPodSandboxStats', { filter: { id: podB } })).stats![0]!;
      return u64(s.linux?.network?.interfaces?.find((i) => i.name === 'eth0')?.rx_bytes);
    };
    const before = await rxOf();
    const ping = inNetns(netnsA, ['/bin/busybox', 'ping', '-c', '5', '-i', '0.2', '-s', '1000', ipB]);
    assert.equal(ping.status, 0, ping.stderr + ping.stdout);
    // pod B has no process of its own: its counters come through nsenter, cached for a second
    const after = await eventually('pod B rx bytes to grow', async () => {
      const rx = await rxOf();
      return rx >= before + 5 * 1000 ? rx : undefined;
    }, 5000);
    assert.ok(after > before);
    const labelled = (await daemon.client.runtime('ListPodSandboxStats', { filter: { label_selector: { pod: 'stats-b' } } })).stats!;
    assert.deepEqual(labelled.map((s) => s.attributes?.id), [podB]);
  });

  it('gives each of many containers listed at once its own cgroup\'s usage', async () => {
    // Enough containers that their cgroup files are read in one batch off the event loop
    // (where the fs-calls addon is built): container i holds 2·(i+1) MiB of the pod's /dev/shm
    // (64 MiB in all), charged to it alone, so a file read into another container's answer shows.
    const pod = await runPod('stats-many');
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const id = await createContainer(pod, 'stats-many', `holder-${i}`, `busybox dd if=/dev/zero of=/dev/shm/hold-${i} bs=1M count=${2 * (i + 1)} 2>/dev/null; exec sleep 1000`);
      await daemon.client.runtime('StartContainer', { container_id: id });
      ids.push(id);
    }
    const MiB = 1024 * 1024;
    const list = await eventually('every container to hold its memory', async () => {
      const stats = (await daemon.client.runtime('ListContainerStats', { filter: { pod_sandbox_id: pod } })).stats!;
      return stats.length === ids.length && stats.every((s) => u64(s.memory?.working_set_bytes) >= 2 * (ids.indexOf(s.attributes!.id!) + 1) * MiB) ? stats : undefined;
    });
    for (const s of list) {
      const held = 2 * (ids.indexOf(s.attributes!.id!) + 1) * MiB;
      const workingSet = u64(s.memory?.working_set_bytes);
      // Below what the next container holds: its own shell and sleep are well under 2 MiB.
      assert.ok(workingSet >= held && workingSet < held + 2 * MiB, `${s.attributes?.metadata?.name}: working set ${workingSet}, holds ${held}`);
      assert.ok(u64(s.cpu?.usage_core_nano_seconds) > 0);
    }
    const podStats = (await daemon.client.runtime('PodSandboxStats', { pod_sandbox_id: pod })).stats!;
    assert.equal(podStats.linux?.containers?.length, ids.length);
    for (const s of podStats.linux!.containers!) {
      const held = 2 * (ids.indexOf(s.attributes!.id!) + 1) * MiB;
      assert.ok(u64(s.memory?.working_set_bytes) >= held && u64(s.memory?.working_set_bytes) < held + 2 * MiB, `pod stats of ${s.attributes?.metadata?.name}`);
    }
    assert.ok(u64(podStats.linux?.memory?.working_set_bytes) >= 2 * 21 * MiB, 'the pod holds all of it');
  });

  it('answers every stats listing while containers are removed under it, and only with containers that exist', async () => {
    // The batch keeps each cgroup's files open across calls: a removed container's files answer
    // ENODEV, and their descriptors are closed only once no batch reads them.
    const pod = await runPod('stats-churn');
    const MiB = 1024 * 1024;
    const start = async (name: string) => {
      const id = await createContainer(pod, 'stats-churn', name, `busybox dd if=/dev/zero of=/dev/shm/${name} bs=1M count=1 2>/dev/null; exec sleep 1000`);
      await daemon.client.runtime('StartContainer', { container_id: id });
      return id;
    };
    const live = new Set<string>();
    const everCreated = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const id = await start(`churn-${i}`);
      live.add(id);
      everCreated.add(id);
    }
    let listing = true;
    let answers = 0;
    const seen = new Set<string>();
    const lister = (async () => {
      while (listing) {
        const stats = (await daemon.client.runtime('ListContainerStats', { filter: { pod_sandbox_id: pod } })).stats!;
        answers++;
        for (const s of stats) {
          seen.add(s.attributes!.id!);
          assert.ok(u64(s.memory?.working_set_bytes) < 64 * MiB, `${s.attributes?.metadata?.name}: working set ${u64(s.memory?.working_set_bytes)}`);
        }
      }
    })();
    try {
      for (let round = 0; round < 4; round++) {
        const [gone] = live;
        await daemon.client.runtime('StopContainer', { container_id: gone!, timeout: 0 });
        await daemon.client.runtime('RemoveContainer', { container_id: gone! });
        live.delete(gone!);
        const id = await start(`churn-${5 + round}`);
        live.add(id);
        everCreated.add(id);
      }
    } finally {
      listing = false;
      await lister;
    }
    assert.ok(answers > 4, `only ${answers} listings ran alongside`);
    // A listing may show a container before its creator has its ID back: checked once all are known.
    assert.deepEqual([...seen].filter((id) => !everCreated.has(id)), [], 'containers this pod never had');
    const final = (await daemon.client.runtime('ListContainerStats', { filter: { pod_sandbox_id: pod } })).stats!;
    assert.deepEqual(final.map((s) => s.attributes!.id!).sort(), [...live].sort());
    // The last container started just now: its dd may not have written its MiB yet. Every
    // container's usage must show within a few seconds; files wrongly kept as absent never would.
    await eventually('every container left to show the memory it holds', async () => {
      const stats = (await daemon.client.runtime('ListContainerStats', { filter: { pod_sandbox_id: pod } })).stats!;
      return stats.length === live.size && stats.every((s) => u64(s.memory?.working_set_bytes) >= 1 * MiB) ? stats : undefined;
    }, 5000);
  });

  it('reports cAdvisor-named pod metrics whose labels match their descriptors', async () => {
    const descriptors = new Map((await daemon.client.runtime('ListMetricDescriptors', {})).descriptors!.map((d) => [d.name!, d.label_keys!]));
    for (const name of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_memory_rss', 'container_network_receive_bytes_total', 'container_network_transmit_bytes_total', 'container_fs_usage_bytes', 'container_oom_events_total']) {
      assert.ok(descriptors.has(name), name);
    }
    const podMetrics = (await daemon.client.runtime('ListPodSandboxMetrics', {})).pod_metrics!;
    const a = podMetrics.find((p) => p.pod_sandbox_id === podA)!;
    assert.ok(a.metrics!.some((m) => m.name === 'container_network_receive_bytes_total' && m.label_values!.includes('eth0')));
    const burn = a.container_metrics!.find((c) => c.container_id === burner)!;
    const cpu = burn.metrics!.find((m) => m.name === 'container_cpu_usage_seconds_total')!;
    assert.equal(cpu.label_values!.length, descriptors.get(cpu.name!)!.length);
    assert.ok(u64(burn.metrics!.find((m) => m.name === 'container_memory_working_set_bytes')!.value) >= 32 * 1024 * 1024);
  });
});

describe('the Prometheus endpoint', () => {
  it('serves Prometheus text that counts an RPC just made', async () => {
    const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const count = (text: string) => Number(/^runcri_grpc_requests_total\{method="Version",code="OK"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    const before = count(await scrape());
    await daemon.client.runtime('Version', {});
    const text = await scrape();
    assert.equal(count(text), before + 1);
    for (const line of text.split('\n')) {
      if (line && !line.startsWith('#')) assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? \S+$/);
    }
    assert.match(text, /^runcri_pods\{state="SANDBOX_READY"\} \d+$/m);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
  });
});
