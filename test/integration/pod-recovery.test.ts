import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestDaemon, makeTestDirs, removeTestDirs, type TestDirs } from '../helpers/daemon.js';
import { mountsBelow } from '../helpers/system.js';
import { allocatedIps, inNetns, removeTestNetwork, vethsOn, writeTestNetwork, type TestNetwork } from '../helpers/cni.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const cgroupRoot = `/rct-podrec-${process.pid}`;

function podConfig(name: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return { metadata: { name, uid: `uid-${name}`, namespace: 'recovery', attempt: 0 }, linux: { cgroup_parent: `${cgroupRoot}/pod-${name}` }, ...extra };
}

/** A daemon with a test network, torn down (daemon, dirs, bridge) after the test whatever happens. */
async function setup(args: string[] = []): Promise<{ dirs: TestDirs; net: TestNetwork; start: () => Promise<TestDaemon> }> {
  const dirs = makeTestDirs();
  const net = writeTestNetwork({ confDir: dirs.cniConf, stateDir: dirs.base });
  let current: TestDaemon | undefined;
  cleanups.push(async () => {
    await current?.stop();
    removeTestDirs(dirs);
    removeTestNetwork(net);
  });
  return { dirs, net, start: async () => (current = await TestDaemon.start({ dirs, args })) };
}

function assertNothingLeft(dirs: TestDirs, net: TestNetwork): void {
  assert.deepEqual(mountsBelow(dirs.state).filter((m) => m !== `${dirs.state}/ns`), [], 'no mounts left');
  assert.deepEqual(readdirSync(`${dirs.state}/ns`), [], 'no pinned namespace files left');
  assert.deepEqual(existsSync(`${dirs.state}/pods`) ? readdirSync(`${dirs.state}/pods`) : [], [], 'no pod directories left');
  assert.deepEqual(allocatedIps(net), [], 'no IP allocations left');
  assert.deepEqual(vethsOn(net), [], 'no veths left');
  for (const h of ['cpu', 'memory', 'pids']) {
    const dir = `/sys/fs/cgroup/${h}${cgroupRoot}`;
    assert.deepEqual(existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [], [], `no ${h} pod cgroups left`);
  }
}

async function removeAll(d: TestDaemon): Promise<void> {
  for (const pod of (await d.client.runtime('ListPodSandbox', {})).items!) {
    await d.client.runtime('StopPodSandbox', { pod_sandbox_id: pod.id });
    await d.client.runtime('RemovePodSandbox', { pod_sandbox_id: pod.id });
  }
}

cleanups.push(() => {
  for (const h of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd']) {
    spawnSync('find', [`/sys/fs/cgroup/${h}${cgroupRoot}`, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'], { stdio: 'ignore' });
  }
});

describe('pod sandboxes across daemon restarts', () => {
  it('stops and removes pods after the daemon was killed with SIGKILL', async () => {
    const { dirs, net, start } = await setup();
    let d = await start();
    const a = (await d.client.runtime('RunPodSandbox', { config: podConfig('kill-a') })).pod_sandbox_id!;
    const b = (await d.client.runtime('RunPodSandbox', { config: podConfig('kill-b', { linux: { cgroup_parent: `${cgroupRoot}/pod-kill-b`, security_context: { namespace_options: { pid: 'POD' } } } }) })).pod_sandbox_id!;
    const ipA = (await d.client.runtime('PodSandboxStatus', { pod_sandbox_id: a })).status!.network!.ip;
    await d.kill();
    d = await start();
    const st = await d.client.runtime('PodSandboxStatus', { pod_sandbox_id: a });
    assert.equal(st.status!.state, 'SANDBOX_READY');
    assert.equal(st.status!.network!.ip, ipA);
    assert.equal((await d.client.runtime('PodSandboxStatus', { pod_sandbox_id: b })).status!.state, 'SANDBOX_READY', 'the infra process outlived the daemon');
    await removeAll(d);
    assertNothingLeft(dirs, net);
  });

  it('turns a pod NOTREADY soon after a restart when CNI CHECK finds its network changed while the daemon was down', async () => {
    const { dirs, net, start } = await setup();
    let d = await start();
    const id = (await d.client.runtime('RunPodSandbox', { config: podConfig('check') })).pod_sandbox_id!;
    await d.kill();
    const netns = join(dirs.state, 'ns', `${id}-net`);
    assert.equal(spawnSync('nsenter', [`--net=${netns}`, 'ip', 'link', 'del', 'eth0']).status, 0);
    d = await start();
    // The check runs once the daemon answers (it runs the network's plugins): poll for its verdict.
    const deadline = Date.now() + 10_000;
    let state = '';
    while (Date.now() < deadline) {
      state = (await d.client.runtime('PodSandboxStatus', { pod_sandbox_id: id })).status!.state!;
      if (state === 'SANDBOX_NOTREADY') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(state, 'SANDBOX_NOTREADY');
    await removeAll(d);
    assertNothingLeft(dirs, net);
  });

  it('releases the IP with the cached result after a reboot-like loss of the namespace and of the config file', async () => {
    const { dirs, net, start } = await setup();
    let d = await start();
    const id = (await d.client.runtime('RunPodSandbox', { config: podConfig('reboot') })).pod_sandbox_id!;
    assert.equal(allocatedIps(net).length, 1);
    await d.kill();
    // what a reboot does to /run: the pinned namespaces (and their veths) are gone
    for (const m of mountsBelow(`${dirs.state}/ns`).filter((p) => p !== `${dirs.state}/ns`)) spawnSync('umount', [m]);
    for (const f of readdirSync(`${dirs.state}/ns`)) rmSync(join(dirs.state, 'ns', f));
    rmSync(net.confFile);
    d = await start();
    assert.equal((await d.client.runtime('PodSandboxStatus', { pod_sandbox_id: id })).status!.state, 'SANDBOX_NOTREADY');
    await d.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
    await d.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
    assertNothingLeft(dirs, net);
  });

  it('leaves nothing behind when the daemon is killed in the middle of RunPodSandbox', async () => {
    const { dirs, net, start } = await setup();
    let d = await start();
    for (const delayMs of [2, 8, 15, 25, 40]) {
      const pending = d.client.runtime('RunPodSandbox', { config: podConfig(`mid-${delayMs}`, { linux: { cgroup_parent: `${cgroupRoot}/pod-mid-${delayMs}`, security_context: { namespace_options: { pid: 'POD' } } } }) }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, delayMs));
      await d.kill();
      await pending;
      d = await start();
      const pods = (await d.client.runtime('ListPodSandbox', {})).items!;
      assert.ok(pods.length <= 1, `at most the one pod survives (delay ${delayMs} ms)`);
      await removeAll(d);
      assertNothingLeft(dirs, net);
    }
  });
});

describe('CNI failures and configuration changes', () => {
  it('undoes every step when a plugin of the chain fails, naming the step and the plugin', async () => {
    const bin = join(makeTestDirs().base, 'bin');
    mkdirSync(bin, { recursive: true });
    cleanups.push(() => rmSync(join(bin, '..'), { recursive: true, force: true }));
    writeFileSync(join(bin, 'rct-fail'), '#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ]; then echo \'{"cniVersion":"1.0.0","code":999,"msg":"refused by the test plugin"}\'; exit 1; fi\nexit 0\n');
    chmodSync(join(bin, 'rct-fail'), 0o755);
    const dirs = makeTestDirs();
    const net = writeTestNetwork({ confDir: dirs.cniConf, stateDir: dirs.base, extraPlugins: [{ type: 'rct-fail' }] });
    const d = await TestDaemon.start({ dirs, args: ['--cni-bin-dir', '/usr/lib/cni', '--cni-bin-dir', bin] });
    cleanups.push(async () => { await d.stop(); removeTestDirs(dirs); removeTestNetwork(net); });
    const err = await d.client.runtime('RunPodSandbox', { config: podConfig('failing') }).then(() => undefined, (e: Error) => e);
    assert.ok(err, 'RunPodSandbox failed');
    assert.match(err.message, /CNI ADD: CNI plugin rct-fail ADD: refused by the test plugin/);
    assert.deepEqual((await d.client.runtime('ListPodSandbox', {})).items, []);
    assertNothingLeft(dirs, net);
    assert.ok(!existsSync(`/sys/fs/cgroup/cpu${cgroupRoot}/pod-failing`));
  });

  it('brings the pod\'s loopback up itself when the CNI chain has no loopback plugin', async () => {
    const dirs = makeTestDirs();
    const net = writeTestNetwork({ confDir: dirs.cniConf, stateDir: dirs.base, loopback: false });
    const d = await TestDaemon.start({ dirs });
    cleanups.push(async () => { await d.stop(); removeTestDirs(dirs); removeTestNetwork(net); });
    const { pod_sandbox_id: id } = await d.client.runtime('RunPodSandbox', { config: podConfig('no-lo-plugin') });
    try {
      const info = JSON.parse((await d.client.runtime('PodSandboxStatus', { pod_sandbox_id: id, verbose: true })).info!.info!) as { namespacePaths: { net: string } };
      const lo = inNetns(info.namespacePaths.net, ['ip', '-o', 'addr', 'show', 'dev', 'lo']);
      assert.match(lo.stdout, /inet 127\.0\.0\.1\/8/);
      assert.match(inNetns(info.namespacePaths.net, ['ip', '-o', 'link', 'show', 'lo']).stdout, /[<,]UP[,>]/);
    } finally {
      await d.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
      await d.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
    }
  });

  it('flips NetworkReady when a CNI configuration appears in the conf dir', async () => {
    const dirs = makeTestDirs();
    const d = await TestDaemon.start({ dirs });
    let net: TestNetwork | undefined;
    cleanups.push(async () => { await d.stop(); removeTestDirs(dirs); if (net) removeTestNetwork(net); });
    const ready = async () => (await d.client.runtime('Status', {})).status!.conditions!.find((c) => c.type === 'NetworkReady')!;
    const before = await ready();
    assert.equal(before.status, false);
    assert.match(before.message!, /no CNI configuration file/);
    net = writeTestNetwork({ confDir: dirs.cniConf, stateDir: dirs.base });
    const deadline = Date.now() + 3000;
    while (!(await ready()).status && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await ready()).status, true);
  });
});
