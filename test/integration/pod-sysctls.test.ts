import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import type { TestDaemon } from '../helpers/daemon.js';
import { destroyDaemonOnTestNetwork, startDaemonOnTestNetwork } from '../helpers/networked-daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { allocatedIps, type TestNetwork } from '../helpers/cni.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';

let daemon: TestDaemon;
let net: TestNetwork;

function podConfig(name: string, sysctls: Record<string, string>): PodSandboxConfig {
  return { metadata: { name, uid: `uid-${name}`, namespace: 'sysctls', attempt: 0 }, linux: { sysctls } };
}

/** A sysctl as a task in the given namespaces (none: the node's own) reads it. */
function readSysctl(path: string, enter: string[] = []): string {
  const r = spawnSync('nsenter', [...enter, '--', 'cat', path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  ({ daemon, net } = await startDaemonOnTestNetwork());
});

after(async () => {
  await destroyDaemonOnTestNetwork(daemon, net);
});

describe('pod sysctls: only the pod\'s own namespaced files, never the node\'s', () => {
  it('refuses names that climb out of net/ or fs/mqueue/ with INVALID_ARGUMENT, and the node\'s kernel.core_pattern is untouched', async () => {
    const corePattern = '/proc/sys/kernel/core_pattern';
    const before = readFileSync(corePattern, 'utf8');
    const marker = `rct-hostile-${process.pid}`;
    try {
      for (const key of ['net/../kernel/core_pattern', 'net.//.kernel.core_pattern', 'net./../kernel.core_pattern', 'fs/mqueue/../../kernel/core_pattern', 'fs.mqueue.//..//kernel.core_pattern', 'kernel/shm/../core_pattern']) {
        const err = await expectCode(daemon.client.runtime('RunPodSandbox', { config: podConfig('hostile', { [key]: marker }) }), grpc.status.INVALID_ARGUMENT);
        assert.ok(err.details.includes(key), err.details);
      }
      assert.equal(readFileSync(corePattern, 'utf8'), before);
    } finally {
      // Only if the refusal ever regressed: give the node its own setting back.
      if (readFileSync(corePattern, 'utf8').includes(marker)) writeFileSync(corePattern, before);
    }
    const pods = await daemon.client.runtime('ListPodSandbox', {});
    assert.deepEqual(pods.items, []);
    assert.deepEqual(readdirSync(join(daemon.dirs.state, 'ns')), []);
  });

  it('writes net, IPC and UTS sysctls (either separator) in the pod\'s namespaces only', async () => {
    const node = {
      port: readSysctl('/proc/sys/net/ipv4/ip_unprivileged_port_start'),
      somaxconn: readSysctl('/proc/sys/net/core/somaxconn'),
      shmmni: readSysctl('/proc/sys/kernel/shmmni'),
      domain: readSysctl('/proc/sys/kernel/domainname'),
    };
    const want = { port: node.port === '123' ? '124' : '123', somaxconn: node.somaxconn === '777' ? '778' : '777', shmmni: node.shmmni === '2048' ? '2049' : '2048', domain: `rct-${process.pid}.example` };
    const res = await daemon.client.runtime('RunPodSandbox', {
      config: podConfig('legit', { 'net/ipv4/ip_unprivileged_port_start': want.port, 'net.core.somaxconn': want.somaxconn, 'kernel/shmmni': want.shmmni, 'kernel.domainname': want.domain }),
    });
    const id = res.pod_sandbox_id!;
    try {
      const status = await daemon.client.runtime('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
      const paths = (JSON.parse(status.info!.info!) as { namespacePaths: Record<string, string> }).namespacePaths;
      assert.equal(readSysctl('/proc/sys/net/ipv4/ip_unprivileged_port_start', [`--net=${paths.net}`]), want.port);
      assert.equal(readSysctl('/proc/sys/net/core/somaxconn', [`--net=${paths.net}`]), want.somaxconn);
      assert.equal(readSysctl('/proc/sys/kernel/shmmni', [`--ipc=${paths.ipc}`]), want.shmmni);
      assert.equal(readSysctl('/proc/sys/kernel/domainname', [`--uts=${paths.uts}`]), want.domain);
      assert.deepEqual({
        port: readSysctl('/proc/sys/net/ipv4/ip_unprivileged_port_start'),
        somaxconn: readSysctl('/proc/sys/net/core/somaxconn'),
        shmmni: readSysctl('/proc/sys/kernel/shmmni'),
        domain: readSysctl('/proc/sys/kernel/domainname'),
      }, node, 'the node\'s own values changed');
    } finally {
      await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
      await daemon.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
    }
  });

  it('answers INVALID_ARGUMENT for a sysctl the pod\'s namespace does not have, or a value the kernel refuses, and leaves nothing', async () => {
    const missing = await expectCode(daemon.client.runtime('RunPodSandbox', { config: podConfig('missing', { 'net.core.no_such_setting': '1' }) }), grpc.status.INVALID_ARGUMENT);
    assert.match(missing.details, /sysctl net\.core\.no_such_setting does not exist/);
    const refused = await expectCode(daemon.client.runtime('RunPodSandbox', { config: podConfig('refused', { 'net.core.somaxconn': 'many' }) }), grpc.status.INVALID_ARGUMENT);
    assert.match(refused.details, /sysctl net\.core\.somaxconn: the kernel refused the value/);
    assert.deepEqual((await daemon.client.runtime('ListPodSandbox', {})).items, []);
    assert.deepEqual(readdirSync(join(daemon.dirs.state, 'ns')), []);
    assert.deepEqual(allocatedIps(net), []);
  });
});
