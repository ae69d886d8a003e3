import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { TestDaemon } from '../helpers/daemon.js';
import { ensureIdmapHelper } from '../helpers/native.js';
import { mountsBelow } from '../helpers/system.js';
import { spdyCommand } from '../helpers/streaming-client.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';
import type { NamespaceOption } from '../../lib/generated/runtime/v1/NamespaceOption.js';

const MAP = { container_id: 0, host_id: 100000, length: 65536 };
type Pod = { id: string; config: PodSandboxConfig };

let fx: ContainerFixture;
let pod: Pod;
let usernsSupported = false;

function usernsPod(ns: Partial<NamespaceOption> = {}, sysctls: Record<string, string> = {}): Partial<PodSandboxConfig> {
  return { linux: { sysctls, security_context: { namespace_options: { userns_options: { mode: 'POD', uids: [MAP], gids: [MAP] }, ...ns } } } };
}

/** The container side of a user-namespaced pod: kubelet repeats the pod's userns_options. */
const IN_POD_USERNS = { linux: { security_context: { namespace_options: { userns_options: { mode: 'POD' as const, uids: [MAP], gids: [MAP] } } } } };


before(async () => {
  ensureIdmapHelper();
  fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '1000'] }, vol: { Volumes: { '/data': {} }, Cmd: ['sleep', '1000'] } });
  // The pod's root is an unprivileged ID on the node: it must be able to walk to its files
  // (the daemon's state dir included, which its probe checks at start: hence the restart).
  chmodSync(fx.dirs.base, 0o711);
  await fx.daemon.stop();
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs });
  const status = await fx.client.runtime('Status', {});
  usernsSupported = (status.runtime_handlers ?? []).some((h) => h.name === '' && h.features?.user_namespaces);
  pod = await fx.runPod(usernsPod({}, { 'net.ipv4.ip_unprivileged_port_start': '80' }));
});

after(async () => {
  await fx?.destroy();
});

describe('pods in a user namespace (userns_options mode POD)', () => {
  it('the default handler (runc) advertises user namespaces on this kernel', () => {
    assert.ok(usernsSupported, 'Status does not list user_namespaces for the default handler');
  });

  it('runs containers as root of the pod user namespace, with the mapping in /proc/self/uid_map', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'idu' }, ...IN_POD_USERNS });
    const r = await fx.exec(id, ['sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map']);
    assert.equal(r.exitCode, 0, r.stderr);
    const [uid, gid, ...maps] = r.stdout.trim().split('\n');
    assert.equal(uid, '0');
    assert.equal(gid, '0');
    for (const line of maps) assert.deepEqual(line.trim().split(/\s+/), ['0', '100000', '65536']);
    const status = await fx.client.runtime('PodSandboxStatus', { pod_sandbox_id: pod.id });
    // The pod's network, UTS and sysctls are set up inside namespaces the user namespace owns.
    const net = await fx.exec(id, ['sh', '-c', 'hostname; test -e /sys/class/net/eth0 && echo eth0; cat /proc/sys/net/ipv4/ip_unprivileged_port_start']);
    assert.equal(net.stdout, `${pod.config.hostname}\neth0\n80\n`, net.stderr);
    assert.ok(status.status?.network?.ip, 'the pod has no IP');
    const opts = status.status?.linux?.namespaces?.options?.userns_options;
    assert.equal(opts?.mode, 'POD');
    assert.deepEqual(opts?.uids?.map((m) => [m.container_id, m.host_id, m.length]), [[0, 100000, 65536]]);
  });

  it('shows the image files of host root as root inside, lets root write its root filesystem and image volumes, and writes host volumes as the mapped ID', async () => {
    const host = join(fx.dirs.base, 'userns-vol');
    mkdirSync(host, { recursive: true });
    chmodSync(host, 0o777);
    const id = await fx.run(pod, 'vol', {
      metadata: { name: 'owner' }, ...IN_POD_USERNS,
      mounts: [{ container_path: '/hostvol', host_path: host }],
    });
    const r = await fx.exec(id, ['sh', '-c', 'ls -ln /srv/marker; ls -lnd /; echo x > /srv/new && echo rootfs-ok; touch /data/f && echo volume-ok; echo hi > /hostvol/by-root']);
    assert.equal(r.exitCode, 0, r.stderr);
    const [marker, root, ...rest] = r.stdout.trim().split('\n');
    assert.match(marker!, /^\S+\s+\d+\s+0\s+0\s/, `image file not root-owned inside: ${marker}`);
    assert.match(root!, /^\S+\s+\d+\s+0\s+0\s/, `/ not root-owned inside: ${root}`);
    assert.deepEqual(rest, ['rootfs-ok', 'volume-ok']);
    const st = statSync(join(host, 'by-root'));
    assert.equal(st.uid, 100000);
    assert.equal(st.gid, 100000);
  });

  it('gives CAP_SYS_ADMIN and CAP_MKNOD only over the pod\'s own namespaces, not the node', async () => {
    const id = await fx.run(pod, 'plain', {
      metadata: { name: 'caps' }, ...IN_POD_USERNS,
      linux: { security_context: { ...IN_POD_USERNS.linux.security_context, capabilities: { add_capabilities: ['SYS_ADMIN'] } } },
    });
    const own = await fx.exec(id, ['sh', '-c', 'mkdir -p /tmp/m && mount -t tmpfs t /tmp/m && echo own-mount-ok']);
    assert.equal(own.stdout.trim(), 'own-mount-ok', own.stderr);
    // debugfs can only be mounted with CAP_SYS_ADMIN of the node's user namespace.
    const node = await fx.exec(id, ['sh', '-c', 'mkdir -p /tmp/d && mount -t debugfs none /tmp/d']);
    assert.notEqual(node.exitCode, 0, 'a node-only mount succeeded inside the user namespace');
    assert.match(node.stderr, /permission denied|not permitted/i);
    const dev = await fx.exec(id, ['/bin/busybox', 'mknod', '/tmp/blk', 'b', '7', '0']);
    assert.notEqual(dev.exitCode, 0, 'mknod of a block device succeeded inside the user namespace');
    assert.match(dev.stderr, /not permitted/i);
  });

  it('keeps exec (ExecSync and streaming), logs, stats and a container restart working', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'life' }, command: ['sh', '-c', 'echo started; exec sleep 1000'], ...IN_POD_USERNS });
    assert.equal((await fx.exec(id, ['echo', 'exec-ok'])).stdout, 'exec-ok\n');
    // kubectl exec: the streaming server's exec runs through the pod's handler as well.
    const { url } = await fx.client.runtime('Exec', { container_id: id, cmd: ['sh', '-c', 'id -u; cat /proc/self/uid_map'], stdout: true });
    const streamed = await spdyCommand(url!, { stdout: true });
    assert.deepEqual(streamed.stdout.toString().trim().split(/\s+/), ['0', '0', '100000', '65536']);
    for (let i = 0; i < 50 && !fx.logText(pod, 'life').includes('started'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(fx.logText(pod, 'life'), 'started\n');
    const stats = await fx.client.runtime('ContainerStats', { container_id: id });
    assert.ok(Number(stats.stats?.memory?.working_set_bytes?.value ?? 0) > 0, 'no memory stats');
    await fx.client.runtime('StopContainer', { container_id: id, timeout: 0 });
    await fx.client.runtime('RemoveContainer', { container_id: id });
    const again = await fx.run(pod, 'plain', { metadata: { name: 'life', attempt: 1 }, ...IN_POD_USERNS });
    assert.equal((await fx.exec(again, ['id', '-u'])).stdout, '0\n');
  });

  it('runs a pod-wide PID namespace owned by the pod user namespace', async () => {
    const shared = await fx.runPod(usernsPod({ pid: 'POD' }));
    try {
      const id = await fx.run(shared, 'plain', { metadata: { name: 'pidpod' }, linux: { security_context: { namespace_options: { pid: 'POD', userns_options: IN_POD_USERNS.linux.security_context.namespace_options.userns_options } } } });
      const r = await fx.exec(id, ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; cat /proc/self/uid_map']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /catatonit/);
      assert.match(r.stdout, /0\s+100000\s+65536/);
    } finally {
      await fx.removePod(shared.id);
    }
  });

  it('recovers the pod and its containers after a daemon restart', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'survivor' }, ...IN_POD_USERNS });
    await fx.daemon.stop();
    fx.daemon = await TestDaemon.start({ dirs: fx.dirs });
    const status = await fx.client.runtime('PodSandboxStatus', { pod_sandbox_id: pod.id });
    assert.equal(status.status?.state, 'SANDBOX_READY');
    assert.equal((await fx.status(id)).state, 'CONTAINER_RUNNING');
    assert.equal((await fx.exec(id, ['cat', '/proc/self/uid_map'])).stdout.trim().split(/\s+/).join(' '), '0 100000 65536');
    const later = await fx.run(pod, 'plain', { metadata: { name: 'after-restart' }, ...IN_POD_USERNS });
    assert.equal((await fx.exec(later, ['id', '-u'])).stdout, '0\n');
  });

  it('leaves no mount or pinned namespace behind when the pod is removed', async () => {
    const p = await fx.runPod(usernsPod());
    await fx.run(p, 'plain', { metadata: { name: 'gone' }, ...IN_POD_USERNS });
    await fx.removePod(p.id);
    const left = mountsBelow(fx.dirs.base).filter((m) => m.includes(p.id));
    assert.deepEqual(left, []);
    assert.ok(!readdirSync(join(fx.dirs.state, 'ns')).some((f) => f.startsWith(p.id)));
  });
});

describe('refused userns_options', () => {
  const cases: [string, Partial<PodSandboxConfig>, RegExp][] = [
    ['mode CONTAINER', { linux: { security_context: { namespace_options: { userns_options: { mode: 'CONTAINER', uids: [MAP], gids: [MAP] } } } } }, /CONTAINER is not supported/],
    ['mode TARGET', { linux: { security_context: { namespace_options: { userns_options: { mode: 'TARGET', uids: [MAP], gids: [MAP] } } } } }, /TARGET is not supported/],
    ['two uid mappings', { linux: { security_context: { namespace_options: { userns_options: { mode: 'POD', uids: [MAP, { container_id: 65536, host_id: 300000, length: 10 }], gids: [MAP] } } } } }, /exactly one uid mapping/],
    ['no gid mapping', { linux: { security_context: { namespace_options: { userns_options: { mode: 'POD', uids: [MAP], gids: [] } } } } }, /exactly one gid mapping/],
    ['container ID 0 unmapped', { linux: { security_context: { namespace_options: { userns_options: { mode: 'POD', uids: [{ container_id: 1, host_id: 100001, length: 65535 }], gids: [MAP] } } } } }, /must map container ID 0/],
    ['the node network', usernsPod({ network: 'NODE' }), /node's network namespace/],
    ['mappings with mode NODE', { linux: { security_context: { namespace_options: { userns_options: { mode: 'NODE', uids: [MAP], gids: [MAP] } } } } }, /NODE takes no uid or gid mappings/],
  ];
  for (const [name, extra, reason] of cases) {
    it(`refuses ${name} with INVALID_ARGUMENT and the reason`, async () => {
      const e = await expectCode(fx.runPod(extra), grpc.status.INVALID_ARGUMENT);
      assert.match(e.details, reason);
    });
  }

  it('refuses a container that asks for a user namespace its pod does not have', async () => {
    const plainPod = await fx.runPod();
    try {
      const e = await expectCode(fx.create(plainPod, 'plain', { metadata: { name: 'wants-userns' }, ...IN_POD_USERNS }), grpc.status.INVALID_ARGUMENT);
      assert.match(e.details, /pod sandbox has no user namespace/);
    } finally {
      await fx.removePod(plainPod.id);
    }
  });
});
