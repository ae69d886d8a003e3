import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { TestDaemon } from '../helpers/daemon.js';
import { ensureIdmapHelper } from '../helpers/native.js';

let fx: ContainerFixture;
let altRoot: string;

interface HandlerReport {
  name: string;
  path: string;
  problem: string;
  features: { recursiveReadOnlyMounts: boolean; userNamespaces: boolean };
}

async function handlerReports(): Promise<HandlerReport[]> {
  const status = await fx.client.runtime('Status', { verbose: true });
  return JSON.parse(status.info?.runtime_handlers ?? '[]') as HandlerReport[];
}


before(async () => {
  ensureIdmapHelper();
  fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '1000'] } });
  // A second handler, RuntimeClass style: the same runc binary with a state root of its own,
  // so where each container went shows in that root; it takes crun's annotations and gives
  // privileged containers no host devices.
  altRoot = join(fx.dirs.state, 'runc-alt');
  await fx.daemon.stop();
  // And one whose binary cannot run a container at all.
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs, toml: `[runtimes.runc-alt]\npath = "/usr/sbin/runc"\nroot = "${altRoot}"\nallowed_annotations = ["run.oci."]\nprivileged_without_host_devices = true\n[runtimes.broken]\npath = "/bin/false"\n` });
  // The pods' root in a user namespace is an unprivileged ID on the node: it must walk to the state dir.
  chmodSync(fx.dirs.base, 0o711);
});

after(async () => {
  await fx?.destroy();
});

async function runPodOn(handler: string) {
  const config = fx.podConfig();
  const res = await fx.client.runtime('RunPodSandbox', { config, runtime_handler: handler });
  return { id: res.pod_sandbox_id!, config };
}

function runcList(root: string): string[] {
  const r = spawnSync('/usr/sbin/runc', [`--root=${root}`, 'list', '-q'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

describe('runtime handlers', () => {
  it('lists every handler in Status, the default one also as "", with the features a probe showed', async () => {
    const status = await fx.client.runtime('Status', {});
    const byName = new Map((status.runtime_handlers ?? []).map((h) => [h.name ?? '', h.features]));
    assert.ok(byName.has(''), 'no entry for the default handler');
    assert.ok(byName.has('runc'));
    assert.ok(byName.has('runc-alt'));
    // What the binary itself says (Debian's runc 1.1.5 has `features` and lists `rro`).
    const features = spawnSync('/usr/sbin/runc', ['features'], { encoding: 'utf8' });
    const rro = features.status === 0 && (JSON.parse(features.stdout) as { mountOptions?: string[] }).mountOptions?.includes('rro') === true;
    assert.equal(byName.get('runc')?.recursive_read_only_mounts, rro);
    assert.deepEqual(byName.get(''), byName.get('runc'));
    const reports = await handlerReports();
    for (const r of reports) {
      assert.equal(r.features.userNamespaces && r.problem !== '', false, `${r.name} advertises user namespaces but cannot run containers`);
    }
  });

  it('runs every container and exec of a pod through the pod\'s handler, and PodSandboxStatus names it', async () => {
    const pod = await fx.runPod();
    const altPod = await runPodOn('runc-alt');
    try {
      const onDefault = await fx.run(pod, 'plain', { metadata: { name: 'on-default' } });
      const onAlt = await fx.run(altPod, 'plain', { metadata: { name: 'on-alt' } });
      assert.ok(runcList(altRoot).includes(onAlt));
      assert.ok(!runcList(altRoot).includes(onDefault));
      assert.equal((await fx.exec(onAlt, ['echo', 'alt'])).stdout, 'alt\n');
      const status = await fx.client.runtime('PodSandboxStatus', { pod_sandbox_id: altPod.id });
      assert.equal(status.status?.runtime_handler, 'runc-alt');
    } finally {
      await fx.removePod(altPod.id);
      await fx.removePod(pod.id);
    }
    assert.deepEqual(runcList(altRoot), []);
  });

  it('leaves annotations a runtime acts on out of config.json unless the pod\'s handler allows them', async () => {
    const pod = await fx.runPod();
    const altPod = await runPodOn('runc-alt');
    try {
      const annotations = { 'run.oci.keep_original_groups': '1', 'example.com/note': 'kept' };
      const specOf = async (p: typeof pod, name: string) => {
        const id = await fx.run(p, 'plain', { metadata: { name }, annotations });
        const status = await fx.client.runtime('ContainerStatus', { container_id: id, verbose: true });
        assert.deepEqual(status.status?.annotations, annotations, 'the status reports the request\'s annotations');
        return (JSON.parse(status.info!.info!) as { runtimeSpec: { annotations: Record<string, string> } }).runtimeSpec.annotations;
      };
      const plain = await specOf(pod, 'annotated');
      assert.equal(plain['run.oci.keep_original_groups'], undefined);
      assert.equal(plain['example.com/note'], 'kept');
      const allowed = await specOf(altPod, 'annotated-alt');
      assert.equal(allowed['run.oci.keep_original_groups'], '1');
    } finally {
      await fx.removePod(altPod.id);
      await fx.removePod(pod.id);
    }
  });

  it('gives a privileged container no host devices under a handler with privileged_without_host_devices', async () => {
    const privileged = { linux: { security_context: { privileged: true } } };
    const config = fx.podConfig(privileged);
    const pod = { id: (await fx.client.runtime('RunPodSandbox', { config })).pod_sandbox_id!, config };
    const altConfig = fx.podConfig(privileged);
    const altPod = { id: (await fx.client.runtime('RunPodSandbox', { config: altConfig, runtime_handler: 'runc-alt' })).pod_sandbox_id!, config: altConfig };
    try {
      const devices = async (p: typeof pod, name: string) => {
        const id = await fx.run(p, 'plain', { metadata: { name }, linux: { security_context: { privileged: true } } });
        return (await fx.exec(id, ['ls', '/dev'])).stdout.split('\n');
      };
      assert.ok((await devices(pod, 'with-devices')).includes('loop0'), 'a privileged container sees the node\'s devices');
      const alt = await devices(altPod, 'without-devices');
      assert.ok(!alt.includes('loop0') && !alt.includes('kmsg'), alt.join(' '));
      assert.ok(alt.includes('null'), 'the runtime\'s default devices are still there');
    } finally {
      await fx.removePod(altPod.id);
      await fx.removePod(pod.id);
    }
  });

  it('refuses an unknown handler with INVALID_ARGUMENT naming the handlers there are', async () => {
    const e = await expectCode(fx.client.runtime('RunPodSandbox', { config: fx.podConfig(), runtime_handler: 'kata' }), grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /"kata"/);
    assert.match(e.details, /runc, .*runc-alt/);
  });

  it('refuses pods on a handler that cannot run containers here with FAILED_PRECONDITION and the reason, and lists it without features', async () => {
    const broken = (await handlerReports()).find((h) => h.name === 'broken');
    assert.ok(broken?.problem, 'a handler whose binary is /bin/false was not found unable to run');
    const e = await expectCode(fx.client.runtime('RunPodSandbox', { config: fx.podConfig(), runtime_handler: 'broken' }), grpc.status.FAILED_PRECONDITION);
    assert.ok(e.details.includes('"broken" cannot run containers on this node'), e.details);
    const status = await fx.client.runtime('Status', {});
    const listed = (status.runtime_handlers ?? []).find((h) => h.name === 'broken');
    assert.deepEqual(listed?.features, { recursive_read_only_mounts: false, user_namespaces: false });
  });

  it('offers crun where it is installed, through its wrapper where the cgroup layout needs it', async (t) => {
    if (!existsSync('/usr/bin/crun')) {
      t.skip('crun is not installed');
      return;
    }
    const crun = (await handlerReports()).find((h) => h.name === 'crun');
    assert.equal(crun?.problem, '');
    const hybrid = readFileSync('/proc/self/mountinfo', 'utf8').includes(' /sys/fs/cgroup/unified ') && readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() !== '';
    assert.equal(crun?.path.endsWith('/bundles/runtimes/crun-hybrid-cgroups'), hybrid);
  });
});

describe('recursive read-only mounts', () => {
  it('refuses recursive_read_only where the handler lacks rro, and a plain read-only bind leaves a submount writable', async () => {
    const host = join(fx.dirs.base, 'rro');
    const sub = join(host, 'sub');
    mkdirSync(sub, { recursive: true });
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'rro-sub', sub]).status, 0);
    const pod = await fx.runPod();
    try {
      const rroSupported = (await handlerReports()).find((h) => h.name === 'runc')?.features.recursiveReadOnlyMounts;
      const rroMount = { container_path: '/ro', host_path: host, readonly: true, recursive_read_only: true, propagation: 'PROPAGATION_PRIVATE' as const };
      if (!rroSupported) {
        const e = await expectCode(fx.create(pod, 'plain', { metadata: { name: 'rro' }, mounts: [rroMount] }), grpc.status.INVALID_ARGUMENT);
        assert.match(e.details, /recursive read-only/);
      } else {
        const id = await fx.run(pod, 'plain', { metadata: { name: 'rro' }, mounts: [rroMount] });
        assert.notEqual((await fx.exec(id, ['touch', '/ro/sub/x'])).exitCode, 0, 'rro left the submount writable');
      }
      const id = await fx.run(pod, 'plain', { metadata: { name: 'plain-ro' }, mounts: [{ container_path: '/ro', host_path: host, readonly: true }] });
      assert.notEqual((await fx.exec(id, ['touch', '/ro/top'])).exitCode, 0, 'the read-only mount is writable');
      const r = await fx.exec(id, ['sh', '-c', 'echo sub > /ro/sub/x']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(readFileSync(join(sub, 'x'), 'utf8'), 'sub\n');
    } finally {
      await fx.removePod(pod.id);
      spawnSync('umount', [sub]);
    }
  });
});

/** The container tests each handler that can run here must pass alike (RuntimeClass). */
describe('the same container behaviour on every handler that runs here', () => {
  const MAP = { container_id: 0, host_id: 100000, length: 65536 };
  const handlers = ['runc', ...(existsSync('/usr/bin/crun') ? ['crun'] : [])];
  for (const handler of handlers) {
    it(`${handler}: env, user, logs, exec, memory limit, stats, stop with the exit code, and a user-namespaced pod`, async () => {
      const report = (await handlerReports()).find((h) => h.name === handler);
      assert.ok(report, `${handler} is not listed`);
      assert.equal(report.problem, '', `${handler} cannot run here: ${report.problem}`);
      const pod = await runPodOn(handler);
      try {
        const id = await fx.run(pod, 'plain', {
          metadata: { name: 'same' }, command: ['sh', '-c', 'echo "hello $GREETING from $(id -u)"; trap "exit 7" TERM; while true; do sleep 0.1; done'],
          envs: [{ key: 'GREETING', value: Buffer.from('hi') }],
          linux: { resources: { memory_limit_in_bytes: String(64 * 1024 * 1024) } },
        });
        for (let i = 0; i < 50 && !fx.logText(pod, 'same').includes('hello'); i++) await new Promise((r) => setTimeout(r, 50));
        assert.equal(fx.logText(pod, 'same'), 'hello hi from 0\n');
        const e = await fx.exec(id, ['sh', '-c', 'cat /srv/marker; id -u 1>&2; exit 3']);
        assert.deepEqual([e.exitCode, e.stdout, e.stderr], [3, 'from-image\n', '0\n']);
        const limit = readFileSync(`/sys/fs/cgroup/memory${pod.config.linux!.cgroup_parent}/runcri-${id}/memory.limit_in_bytes`, 'utf8').trim();
        assert.equal(limit, String(64 * 1024 * 1024));
        const stats = await fx.client.runtime('ContainerStats', { container_id: id });
        assert.ok(Number(stats.stats?.memory?.working_set_bytes?.value ?? 0) > 0);
        await fx.client.runtime('StopContainer', { container_id: id, timeout: 10 });
        assert.equal((await fx.status(id)).exit_code, 7);
      } finally {
        await fx.removePod(pod.id);
      }
      if (!report.features.userNamespaces) return;
      const config = fx.podConfig({ linux: { security_context: { namespace_options: { userns_options: { mode: 'POD', uids: [MAP], gids: [MAP] } } } } });
      const res = await fx.client.runtime('RunPodSandbox', { config, runtime_handler: handler });
      const upod = { id: res.pod_sandbox_id!, config };
      try {
        const id = await fx.run(upod, 'plain', { metadata: { name: 'userns' } });
        const r = await fx.exec(id, ['sh', '-c', 'id -u; cat /proc/self/uid_map; ls -ln /srv/marker']);
        assert.equal(r.exitCode, 0, r.stderr);
        const [uid, map, marker] = r.stdout.trim().split('\n');
        assert.equal(uid, '0');
        assert.deepEqual(map!.trim().split(/\s+/), ['0', '100000', '65536']);
        assert.match(marker!, /^\S+\s+\d+\s+0\s+0\s/);
      } finally {
        await fx.removePod(upod.id);
      }
    });
  }
});
