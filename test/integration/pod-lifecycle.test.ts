import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { TestDaemon } from '../helpers/daemon.js';
import { destroyDaemonOnTestNetwork, startDaemonOnTestNetwork } from '../helpers/networked-daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { mountsBelow } from '../helpers/system.js';
import { allocatedIps, inNetns, vethsOn, type TestNetwork } from '../helpers/cni.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';

let daemon: TestDaemon;
let net: TestNetwork;
const cgroupRoot = `/rct-pod-${process.pid}`;

function podConfig(name: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    labels: { app: name, suite: 'lifecycle' },
    annotations: { note: name },
    ...extra,
  };
}

async function runPod(config: PodSandboxConfig): Promise<string> {
  const res = await daemon.client.runtime('RunPodSandbox', { config });
  return res.pod_sandbox_id!;
}

async function status(id: string) {
  return (await daemon.client.runtime('PodSandboxStatus', { pod_sandbox_id: id, verbose: true }));
}

function podInfo(res: { info?: Record<string, string> }): { namespacePaths: Record<string, string>; hostnamePath: string; resolvConfPath: string; hostsPath: string; shmPath?: string; cgroupPath: string } {
  return JSON.parse(res.info!.info!);
}

async function removePod(id: string): Promise<void> {
  await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
  await daemon.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
}

before(async () => {
  ({ daemon, net } = await startDaemonOnTestNetwork());
});

after(async () => {
  await destroyDaemonOnTestNetwork(daemon, net);
  for (const h of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd']) {
    spawnSync('find', [`/sys/fs/cgroup/${h}${cgroupRoot}`, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'], { stdio: 'ignore' });
  }
});

describe('RunPodSandbox with a bridge network', () => {
  it('gives the pod its own network namespace with eth0 holding the IP reported in status', async () => {
    const id = await runPod(podConfig('net1'));
    try {
      const res = await status(id);
      assert.equal(res.status!.state, 'SANDBOX_READY');
      const ip = res.status!.network!.ip!;
      assert.match(ip, new RegExp(`^${net.prefix.replace(/\./g, '\\.')}\\.[0-9]+$`));
      const info = podInfo(res);
      const addr = inNetns(info.namespacePaths.net!, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
      assert.equal(addr.status, 0, addr.stderr);
      assert.ok(addr.stdout.includes(`${ip}/24`), addr.stdout);
      const lo = inNetns(info.namespacePaths.net!, ['ip', '-o', 'link', 'show', 'lo']);
      assert.match(lo.stdout, /UP/);
      assert.deepEqual(allocatedIps(net), [ip]);
    } finally {
      await removePod(id);
    }
  });

  it('writes hostname, resolv.conf and hosts, sets the hostname in the UTS namespace and mounts a 64 MiB /dev/shm', async () => {
    const id = await runPod(podConfig('files1', {
      hostname: 'web-0',
      dns_config: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
    }));
    try {
      const res = await status(id);
      const info = podInfo(res);
      assert.equal(readFileSync(info.hostnamePath, 'utf8'), 'web-0\n');
      assert.equal(readFileSync(info.resolvConfPath, 'utf8'), 'search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n');
      const hosts = readFileSync(info.hostsPath, 'utf8');
      assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
      assert.ok(hosts.includes(`${res.status!.network!.ip}\tweb-0`), hosts);
      const uts = spawnSync('nsenter', [`--uts=${info.namespacePaths.uts}`, 'hostname'], { encoding: 'utf8' });
      assert.equal(uts.stdout.trim(), 'web-0');
      const df = spawnSync('findmnt', ['-n', '-o', 'FSTYPE,SIZE', info.shmPath!], { encoding: 'utf8' });
      assert.match(df.stdout, /tmpfs\s+64M/);
    } finally {
      await removePod(id);
    }
  });

  it('copies the host resolv.conf and uses the node\'s hostname when the pod names neither', async () => {
    const id = await runPod(podConfig('files2'));
    try {
      const info = podInfo(await status(id));
      assert.equal(readFileSync(info.resolvConfPath, 'utf8'), readFileSync('/etc/resolv.conf', 'utf8'));
      assert.equal(readFileSync(info.hostnamePath, 'utf8'), `${hostname()}\n`);
    } finally {
      await removePod(id);
    }
  });

  it('lets two pods reach each other by IP', async () => {
    const a = await runPod(podConfig('peer-a'));
    const b = await runPod(podConfig('peer-b'));
    let server: ReturnType<typeof spawn> | undefined;
    try {
      const sa = await status(a);
      const sb = await status(b);
      const ping = inNetns(podInfo(sa).namespacePaths.net!, ['busybox', 'ping', '-c', '1', '-W', '2', sb.status!.network!.ip!]);
      assert.equal(ping.status, 0, ping.stdout + ping.stderr);
      server = spawn('nsenter', [`--net=${podInfo(sb).namespacePaths.net}`, '--', 'busybox', 'nc', '-l', '-p', '7777'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let received = '';
      server.stdout!.on('data', (c: Buffer) => { received += c.toString(); });
      await new Promise((r) => setTimeout(r, 200));
      const send = spawnSync('nsenter', [`--net=${podInfo(sa).namespacePaths.net}`, '--', 'busybox', 'nc', '-w', '2', sb.status!.network!.ip!, '7777'], { input: 'hello from a\n', encoding: 'utf8', timeout: 10_000 });
      assert.equal(send.status, 0, send.stderr);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(received, 'hello from a\n');
    } finally {
      if (server?.pid && server.exitCode === null) server.kill('SIGKILL');
      await removePod(a);
      await removePod(b);
    }
  });

  it('maps a host port on loopback to the pod', async () => {
    const hostPort = 20000 + (process.pid % 10000);
    const id = await runPod(podConfig('ports1', { port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: hostPort, host_ip: '127.0.0.1' }] }));
    let server: ReturnType<typeof spawn> | undefined;
    try {
      const info = podInfo(await status(id));
      server = spawn('nsenter', [`--net=${info.namespacePaths.net}`, '--', 'busybox', 'nc', '-l', '-p', '8080'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let received = '';
      server.stdout!.on('data', (c: Buffer) => { received += c.toString(); });
      await new Promise((r) => setTimeout(r, 200));
      await new Promise<void>((resolve, reject) => {
        const sock = connect({ host: '127.0.0.1', port: hostPort }, () => sock.end('via the host port\n'));
        sock.on('error', reject);
        sock.on('close', () => resolve());
        sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timed out')); });
      });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(received, 'via the host port\n');
    } finally {
      if (server?.pid && server.exitCode === null) server.kill('SIGKILL');
      await removePod(id);
    }
    const nat = spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
    assert.ok(!nat.stdout.includes(`--dport ${hostPort}`), 'the port mapping is gone after removal');
  });

  it('runs a host-network pod without CNI and with the host hosts file', async () => {
    const id = await runPod(podConfig('hostnet1', { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } }));
    try {
      const res = await status(id);
      assert.equal(res.status!.state, 'SANDBOX_READY');
      assert.equal(res.status!.linux!.namespaces!.options!.network, 'NODE');
      assert.equal(res.status!.network!.ip, '');
      const info = podInfo(res);
      assert.equal(info.namespacePaths.net, undefined);
      assert.equal(info.namespacePaths.uts, undefined);
      assert.ok(info.namespacePaths.ipc);
      assert.equal(readFileSync(info.hostsPath, 'utf8'), readFileSync('/etc/hosts', 'utf8'));
      assert.deepEqual(allocatedIps(net), []);
    } finally {
      await removePod(id);
    }
  });

  it('creates the pod cgroup under cgroup_parent with the pod resources and overhead', async () => {
    const parent = `${cgroupRoot}/burstable/podcg1`;
    const id = await runPod(podConfig('cg1', {
      linux: {
        cgroup_parent: parent,
        resources: { cpu_shares: 512, cpu_period: 100000, cpu_quota: 50000, memory_limit_in_bytes: 128 * 1024 * 1024 },
        overhead: { cpu_shares: 12, cpu_period: 100000, cpu_quota: 10000, memory_limit_in_bytes: 16 * 1024 * 1024 },
      },
    }));
    try {
      const read = (h: string, f: string) => readFileSync(`/sys/fs/cgroup/${h}${parent}/${f}`, 'utf8').trim();
      assert.equal(read('cpu', 'cpu.shares'), '524');
      assert.equal(read('cpu', 'cpu.cfs_quota_us'), '60000');
      assert.equal(read('memory', 'memory.limit_in_bytes'), String(144 * 1024 * 1024));
      assert.ok(existsSync(`/sys/fs/cgroup/pids${parent}`));
      assert.notEqual(read('cpuset', 'cpuset.cpus'), '');
    } finally {
      await removePod(id);
    }
    for (const h of ['cpu', 'memory', 'pids', 'cpuset']) {
      assert.ok(!existsSync(`/sys/fs/cgroup/${h}${parent}`), `${h} cgroup removed`);
      assert.ok(!existsSync(`/sys/fs/cgroup/${h}${cgroupRoot}`), `${h} ancestors runcri made are removed`);
    }
  });

  it('applies namespaced sysctls inside the pod and refuses node-wide ones', async () => {
    const id = await runPod(podConfig('sysctl1', { linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '80', 'kernel.shm_rmid_forced': '1' } } }));
    try {
      const info = podInfo(await status(id));
      const v = inNetns(info.namespacePaths.net!, ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start']);
      assert.equal(v.stdout.trim(), '80');
      const shm = spawnSync('nsenter', [`--ipc=${info.namespacePaths.ipc}`, 'cat', '/proc/sys/kernel/shm_rmid_forced'], { encoding: 'utf8' });
      assert.equal(shm.stdout.trim(), '1');
    } finally {
      await removePod(id);
    }
    const err = await expectCode(daemon.client.runtime('RunPodSandbox', { config: podConfig('sysctl2', { linux: { sysctls: { 'kernel.panic': '1' } } }) }), grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /kernel\.panic is not namespaced/);
    await expectCode(daemon.client.runtime('RunPodSandbox', { config: podConfig('sysctl3', { linux: { sysctls: { 'net.ipv4.ip_forward': '1' }, security_context: { namespace_options: { network: 'NODE' } } } }) }), grpc.status.INVALID_ARGUMENT);
  });

  it('runs catatonit as PID 1 of a pod-wide PID namespace and ends it at stop', async () => {
    const id = await runPod(podConfig('pidpod', { linux: { security_context: { namespace_options: { pid: 'POD' } } } }));
    try {
      const info = podInfo(await status(id));
      const ps = spawnSync('nsenter', [`--pid=${info.namespacePaths.pid}`, '--', 'busybox', 'sh', '-c', 'echo $$'], { encoding: 'utf8' });
      assert.equal(ps.status, 0, ps.stderr);
      const inode = spawnSync('stat', ['-L', '-c', '%i', info.namespacePaths.pid!], { encoding: 'utf8' }).stdout.trim();
      const members = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try { return spawnSync('readlink', [`/proc/${p}/ns/pid`], { encoding: 'utf8' }).stdout.trim() === `pid:[${inode}]`; } catch { return false; }
      });
      assert.equal(members.length, 1);
      assert.match(readFileSync(`/proc/${members[0]}/cmdline`, 'utf8'), /catatonit/);
      await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
      assert.ok(!existsSync(`/proc/${members[0]}`) || readFileSync(`/proc/${members[0]}/stat`, 'utf8').includes(') Z'), 'infra process ended');
    } finally {
      await removePod(id);
    }
  });
});

describe('pod sandbox bookkeeping', () => {
  it('lists pods by id prefix, state and labels, and reports status fields', async () => {
    const a = await runPod(podConfig('list-a'));
    const b = await runPod(podConfig('list-b'));
    try {
      await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: b });
      const all = (await daemon.client.runtime('ListPodSandbox', {})).items!;
      assert.deepEqual(new Set(all.map((p) => p.id)), new Set([a, b]));
      const ready = (await daemon.client.runtime('ListPodSandbox', { filter: { state: { state: 'SANDBOX_READY' } } })).items!;
      assert.deepEqual(ready.map((p) => p.id), [a]);
      const byLabel = (await daemon.client.runtime('ListPodSandbox', { filter: { label_selector: { app: 'list-b' } } })).items!;
      assert.deepEqual(byLabel.map((p) => p.id), [b]);
      assert.equal(byLabel[0]!.state, 'SANDBOX_NOTREADY');
      const byPrefix = (await daemon.client.runtime('ListPodSandbox', { filter: { id: a.slice(0, 12) } })).items!;
      assert.deepEqual(byPrefix.map((p) => p.id), [a]);
      const st = (await daemon.client.runtime('PodSandboxStatus', { pod_sandbox_id: a.slice(0, 12) })).status!;
      assert.equal(st.id, a);
      assert.deepEqual(st.metadata, { name: 'list-a', uid: 'uid-list-a', namespace: 'default', attempt: 0 });
      assert.deepEqual(st.labels, { app: 'list-a', suite: 'lifecycle' });
      assert.deepEqual(st.annotations, { note: 'list-a' });
      assert.equal(st.runtime_handler, '');
      assert.ok(BigInt(st.created_at as string) > 1_600_000_000_000_000_000n);
      assert.equal(st.linux!.namespaces!.options!.pid, 'CONTAINER');
    } finally {
      await removePod(a);
      await removePod(b);
    }
  });

  it('refuses a duplicate name, an unknown runtime handler and a missing metadata', async () => {
    const a = await runPod(podConfig('dup'));
    try {
      const err = await expectCode(daemon.client.runtime('RunPodSandbox', { config: podConfig('dup') }), grpc.status.ALREADY_EXISTS);
      assert.ok(err.details.includes(a), err.details);
      const h = await expectCode(daemon.client.runtime('RunPodSandbox', { config: podConfig('handler'), runtime_handler: 'kata' }), grpc.status.INVALID_ARGUMENT);
      assert.match(h.details, /"kata".*runc/);
      await expectCode(daemon.client.runtime('RunPodSandbox', { config: { metadata: { name: 'x' } } }), grpc.status.INVALID_ARGUMENT);
    } finally {
      await removePod(a);
    }
    // the name is free again once the pod is gone
    const again = await runPod(podConfig('dup'));
    await removePod(again);
  });

  it('answers stop and remove of an unknown pod with success, status with NOT_FOUND, and repeats idempotently', async () => {
    await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: 'f'.repeat(64) });
    await daemon.client.runtime('RemovePodSandbox', { pod_sandbox_id: 'f'.repeat(64) });
    await expectCode(daemon.client.runtime('PodSandboxStatus', { pod_sandbox_id: 'f'.repeat(64) }), grpc.status.NOT_FOUND);
    const id = await runPod(podConfig('idem'));
    await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
    await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
    await daemon.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
    await daemon.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
    await expectCode(daemon.client.runtime('PodSandboxStatus', { pod_sandbox_id: id }), grpc.status.NOT_FOUND);
  });

  it('stores the pod CIDR from UpdateRuntimeConfig and refuses a malformed one', async () => {
    await daemon.client.runtime('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.244.1.0/24' } } });
    await expectCode(daemon.client.runtime('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: 'nonsense' } } }), grpc.status.INVALID_ARGUMENT);
  });

  it('leaves no namespace, mount, IP, veth or pod directory behind after every pod is removed', () => {
    assert.deepEqual(mountsBelow(daemon.dirs.state).filter((m) => m !== `${daemon.dirs.state}/ns`), []);
    assert.deepEqual(readdirSync(`${daemon.dirs.state}/ns`), []);
    assert.deepEqual(readdirSync(`${daemon.dirs.state}/pods`), []);
    assert.deepEqual(allocatedIps(net), []);
    assert.deepEqual(vethsOn(net), []);
  });
});
