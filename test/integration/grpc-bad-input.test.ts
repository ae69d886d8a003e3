import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { rawGrpcCall } from '../helpers/grpc-raw.js';
import { mountsBelow } from '../helpers/system.js';

/**
 * Each of these was found by the gRPC fuzzer (grpc-fuzz.test.ts) answering INTERNAL, hanging,
 * or leaving something behind; each is pinned here with a request of its own.
 */
let fx: ContainerFixture;
let pod: { id: string; config: import('../../lib/generated/runtime/v1/PodSandboxConfig.js').PodSandboxConfig };

before(async () => {
  fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '1000'] } });
  pod = await fx.runPod();
});

after(async () => {
  await fx?.destroy();
});

describe('bad input gets a clear status, never INTERNAL', () => {
  it('answers INVALID_ARGUMENT, not INTERNAL, to a body that is not the request message', async () => {
    // A varint that never ends; unknown groups (field 1000) nested 50,000 deep.
    const unterminated = Buffer.from([0x10, ...Array.from({ length: 11 }, () => 0xff)]);
    const deepGroups = Buffer.concat(Array.from({ length: 50_000 }, () => Buffer.from([0xc3, 0x3e])));
    for (const body of [unterminated, deepGroups]) {
      const res = await rawGrpcCall(fx.dirs.socket, '/runtime.v1.RuntimeService/ContainerStatus', body);
      assert.equal(res.grpcStatus, String(grpc.status.INVALID_ARGUMENT), res.grpcMessage);
      assert.match(decodeURIComponent(res.grpcMessage ?? ''), /not a valid runtime\.v1\.ContainerStatusRequest message/);
    }
  });

  it('answers INVALID_ARGUMENT to an enum value the schema does not know, naming the field', async () => {
    const config = { ...fx.podConfig(), port_mappings: [{ protocol: 7 as never, container_port: 80, host_port: 0 }] };
    const err = await expectCode(fx.client.runtime('RunPodSandbox', { config }), grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /^config\.port_mappings\.protocol: 7 is not a Protocol this runtime knows/);
  });

  it('answers a 1 MiB ID with NOT_FOUND and a bounded message', async () => {
    const err = await expectCode(fx.client.runtime('ContainerStatus', { container_id: 'u'.repeat(1 << 20) }), grpc.status.NOT_FOUND);
    assert.ok(Buffer.byteLength(err.details) < 2200, `${Buffer.byteLength(err.details)} bytes of details`);
    assert.match(err.details, /more bytes\)$/);
  });

  it('refuses a pod host name hostname(1) would take as an option, or refuse itself', async () => {
    for (const hostname of ['--file=etc/machine-id', '-a', 'a_b', '?']) {
      const err = await expectCode(fx.client.runtime('RunPodSandbox', { config: fx.podConfig({ hostname }) }), grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /config\.hostname .* cannot be a host name/);
    }
  });

  it('refuses resources the kernel would refuse, for pods, new containers and updates', async () => {
    await expectCode(fx.client.runtime('RunPodSandbox', { config: fx.podConfig({ linux: { overhead: { cpu_period: '9223372036854775807' } } }) }), grpc.status.INVALID_ARGUMENT);
    await expectCode(fx.client.runtime('RunPodSandbox', { config: fx.podConfig({ linux: { overhead: { memory_swap_limit_in_bytes: '772759924' } } }) }), grpc.status.INVALID_ARGUMENT);
    await expectCode(fx.create(pod, 'plain', { linux: { resources: { cpuset_cpus: 'b15f305e10687773' } } }), grpc.status.INVALID_ARGUMENT);
    const id = await fx.run(pod, 'plain');
    const err = await expectCode(fx.client.runtime('UpdateContainerResources', { container_id: id, linux: { memory_swap_limit_in_bytes: '-1043618226' } }), grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /^linux\.memory_swap_limit_in_bytes/);
    assert.equal((await fx.status(id)).state, 'CONTAINER_RUNNING');
  });

  it('refuses an environment value holding a NUL byte, naming the field', async () => {
    const err = await expectCode(fx.create(pod, 'plain', { envs: [{ key: 'A', value: Buffer.from('x\0y') }] }), grpc.status.INVALID_ARGUMENT);
    assert.equal(err.details, 'config.envs.value: a NUL byte is not allowed in a value');
  });

  it('refuses a pod resize the kernel would refuse, and keeps the pod as it was', async () => {
    const err = await expectCode(fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, resources: { cpuset_mems: 'ea' } }), grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /^resources\.cpuset_mems: "ea" is not a list/);
    await expectCode(fx.client.runtime('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, overhead: { cpu_period: '9223372036854775807' } }), grpc.status.INVALID_ARGUMENT);
    assert.equal((await fx.client.runtime('PodSandboxStatus', { pod_sandbox_id: pod.id })).status!.state, 'SANDBOX_READY');
  });

  it('refuses a port mapping to container port 0 before the pod is made', async () => {
    const err = await expectCode(fx.client.runtime('RunPodSandbox', { config: fx.podConfig({ port_mappings: [{ protocol: 'TCP', container_port: 0, host_port: 45_123 }] }) }), grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /maps to container_port 0/);
  });

  it('answers INVALID_ARGUMENT for a command the image does not have', async () => {
    const err = await expectCode(fx.create(pod, 'plain', { command: ['no-such-program'] }), grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /command cannot be run: .*no-such-program/);
  });

  it('refuses names and arguments too long for the kernel before anything is made', async () => {
    const name = await expectCode(fx.create(pod, 'plain', { metadata: { name: 'n'.repeat(300_000) } }), grpc.status.INVALID_ARGUMENT);
    assert.match(name.details, /^config\.metadata\.name is 300000 bytes long/);
    const podName = await expectCode(fx.client.runtime('RunPodSandbox', { config: { ...fx.podConfig(), metadata: { name: 'p'.repeat(300_000), uid: 'u', namespace: 'n' } } }), grpc.status.INVALID_ARGUMENT);
    assert.match(podName.details, /^config\.metadata\.name is 300000 bytes long/);
  });

  it('leaves no shared bind mount behind when a later mount of the same request is refused', async () => {
    const host = join(fx.dirs.base, 'shared-src');
    mkdirSync(host, { recursive: true });
    const err = await expectCode(fx.create(pod, 'plain', {
      mounts: [
        { container_path: '/a', host_path: host, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
        { container_path: '/b', host_path: join(fx.dirs.base, 'missing') },
      ],
    }), grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /config\.mounts\[1\]: host path .* does not exist/);
    assert.deepEqual(mountsBelow(host), []);
  });
});

describe('concurrent calls on one container', () => {
  it('starts a container once when two StartContainer calls race, and it stays running', async () => {
    const id = await fx.create(pod, 'plain');
    const results = await Promise.allSettled([fx.client.runtime('StartContainer', { container_id: id }), fx.client.runtime('StartContainer', { container_id: id })]);
    const codes = results.map((r) => (r.status === 'fulfilled' ? grpc.status.OK : (r.reason as grpc.ServiceError).code)).sort();
    assert.deepEqual(codes, [grpc.status.OK, grpc.status.FAILED_PRECONDITION].sort());
    assert.equal((await fx.status(id)).state, 'CONTAINER_RUNNING');
  });

  it('stops a container whose stop signal is a real-time one (runc knows those only by number)', async () => {
    const id = await fx.run(pod, 'plain', { stop_signal: 'SIGNAL_SIGRTMINPLUS12' as never });
    await fx.client.runtime('StopContainer', { container_id: id, timeout: '1' });
    assert.equal((await fx.status(id)).state, 'CONTAINER_EXITED');
  });

  it('removes a container once when two RemoveContainer calls race, both answering OK', async () => {
    const id = await fx.run(pod, 'plain');
    await fx.client.runtime('StopContainer', { container_id: id, timeout: '0' });
    await Promise.all([fx.client.runtime('RemoveContainer', { container_id: id }), fx.client.runtime('RemoveContainer', { container_id: id })]);
    await expectCode(fx.client.runtime('ContainerStatus', { container_id: id }), grpc.status.NOT_FOUND);
    assert.deepEqual(mountsBelow(join(fx.dirs.root, 'overlay', 'containers', id)), []);
  });
});

describe('requests that are fine', () => {
  it('still decode through the checks: an empty frame is a valid empty request', async () => {
    const res = await rawGrpcCall(fx.dirs.socket, '/runtime.v1.RuntimeService/Version', Buffer.alloc(0));
    assert.equal(res.grpcStatus, String(grpc.status.OK));
  });
});
