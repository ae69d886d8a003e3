import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { TestDaemon } from '../helpers/daemon.js';
import { destroyDaemonOnTestNetwork, startDaemonOnTestNetwork } from '../helpers/networked-daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { allocatedIps, type TestNetwork } from '../helpers/cni.js';

let daemon: TestDaemon;
let net: TestNetwork;

before(async () => {
  ({ daemon, net } = await startDaemonOnTestNetwork());
});

after(async () => {
  await destroyDaemonOnTestNetwork(daemon, net);
});

/**
 * CNI_ARGS is `K=V;K=V` without escaping: a pod name holding `;IP=…` would ask host-local for
 * an address of the caller's choosing. Such metadata is refused before any plugin runs.
 */
describe('pod metadata that CNI_ARGS cannot carry', () => {
  it('is refused with INVALID_ARGUMENT naming the field, and no address is leased', async () => {
    const wanted = `${net.prefix}.77`;
    const cases = [
      { field: 'config.metadata.name', metadata: { name: `web;IP=${wanted}`, uid: 'u1', namespace: 'default' } },
      { field: 'config.metadata.namespace', metadata: { name: 'web', uid: 'u2', namespace: `default;IP=${wanted}` } },
      { field: 'config.metadata.uid', metadata: { name: 'web', uid: `IP=${wanted}`, namespace: 'default' } },
      { field: 'config.metadata.name', metadata: { name: 'a=b', uid: 'u3', namespace: 'default' } },
    ];
    for (const c of cases) {
      const err = await expectCode(daemon.client.runtime('RunPodSandbox', { config: { metadata: { ...c.metadata, attempt: 0 } } }), grpc.status.INVALID_ARGUMENT);
      assert.ok(err.details.startsWith(`${c.field} `), err.details);
      assert.match(err.details, /must not contain ";", "=" or NUL/);
    }
    assert.deepEqual(allocatedIps(net), []);
    assert.deepEqual(readdirSync(join(daemon.dirs.state, 'ns')), []);
  });

  it('still runs a pod whose names Kubernetes allows, with an address from the pool', async () => {
    const res = await daemon.client.runtime('RunPodSandbox', { config: { metadata: { name: 'web-0.example', uid: '0f8fad5b-d9cb-469f-a165-70867728950e', namespace: 'kube-system', attempt: 0 } } });
    const id = res.pod_sandbox_id!;
    try {
      const status = await daemon.client.runtime('PodSandboxStatus', { pod_sandbox_id: id });
      assert.match(status.status!.network!.ip!, new RegExp(`^${net.prefix.replace(/\./g, '\\.')}\\.`));
    } finally {
      await daemon.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
      await daemon.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
    }
  });
});
