import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { mountsBelow } from '../helpers/system.js';
import { lostBytes, planExecs } from '../helpers/exec-workload.js';
import { testSeed } from '../helpers/random.js';
import { watchRss } from '../helpers/leaks.js';
import { ContainerFixture } from '../helpers/container-fixture.js';

let fx: ContainerFixture;
let pod: { id: string; config: import('../../lib/generated/runtime/v1/PodSandboxConfig.js').PodSandboxConfig };

before(async () => {
  fx = await ContainerFixture.start({
    plain: { Cmd: ['sleep', '1000'] },
    merge: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo default'], Env: ['FROM_IMAGE=1', 'OVERRIDE=image', 'PATH=/bin'], WorkingDir: '/srv' },
    alice: { User: 'alice', Cmd: ['id'] },
    bobusers: { User: 'bob:wheel', Cmd: ['id'] },
    usr1: { StopSignal: 'SIGUSR1', Cmd: ['sh', '-c', 'trap "echo got-usr1; exit 5" USR1; echo ready; while true; do sleep 0.1; done'] },
    volume: { Volumes: { '/data': {} }, Cmd: ['sleep', '1000'] },
  });
  pod = await fx.runPod();
});

after(async () => {
  await fx?.destroy();
});

describe('CreateContainer and StartContainer', () => {
  it('merges command/args, env and working dir by Kubernetes rules and logs stdout and stderr in CRI format with partial lines', async () => {
    const id = await fx.run(pod, 'merge', {
      metadata: { name: 'merge1' },
      args: ['echo "$FROM_IMAGE $OVERRIDE $(pwd)"; printf partial; echo oops >&2'],
      // A Buffer: this tree's proto declares KeyValue.value as bytes (CRI says string; the wire is the same).
      envs: [{ key: 'OVERRIDE', value: Buffer.from('req') }],
    });
    const s = await fx.waitExited(id);
    assert.equal(s.exit_code, 0);
    assert.equal(s.reason, 'Completed');
    assert.ok(BigInt(s.finished_at as string) >= BigInt(s.started_at as string));
    assert.ok(BigInt(s.started_at as string) >= BigInt(s.created_at as string));
    assert.equal(fx.logText(pod, 'merge1', 'stdout'), '1 req /srv\npartial');
    assert.equal(fx.logText(pod, 'merge1', 'stderr'), 'oops\n');
    for (const line of fx.logOf(pod, 'merge1').trim().split('\n')) assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d) (stdout|stderr) [PF] /);
    assert.equal(s.log_path, join(pod.config.log_directory!, 'merge1.log'));
  });

  it('uses the image CMD without args and the request command instead of ENTRYPOINT', async () => {
    const a = await fx.run(pod, 'merge', { metadata: { name: 'merge2' } });
    const b = await fx.run(pod, 'merge', { metadata: { name: 'merge3' }, command: ['/bin/echo'], args: ['direct'] });
    assert.equal((await fx.waitExited(a)).exit_code, 0);
    assert.equal((await fx.waitExited(b)).exit_code, 0);
    assert.equal(fx.logText(pod, 'merge2'), 'default\n');
    assert.equal(fx.logText(pod, 'merge3'), 'direct\n');
  });

  it('resolves each user form against the container\'s own /etc/passwd and /etc/group and reports it', async () => {
    const cases: [string, Record<string, unknown>, string, string][] = [
      ['u-root', { command: ['id'] }, 'plain', 'uid=0(root) gid=0(root) groups=0(root)'],
      ['u-image-name', {}, 'alice', 'uid=1000(alice) gid=1000(alice) groups=10(wheel),100(users),1000(alice)'],
      ['u-image-name-group', {}, 'bobusers', 'uid=1001(bob) gid=10(wheel) groups=10(wheel)'],
      ['u-run-as-user', { command: ['id'], linux: { security_context: { run_as_user: { value: 1001 }, supplemental_groups: [4242] } } }, 'plain', 'uid=1001(bob) gid=100(users) groups=10(wheel),100(users),4242'],
      ['u-run-as-username', { command: ['id'], linux: { security_context: { run_as_username: 'alice', run_as_group: { value: 10 } } } }, 'plain', 'uid=1000(alice) gid=10(wheel) groups=10(wheel),100(users)'],
      ['u-strict', { command: ['id'], linux: { security_context: { run_as_user: { value: 1000 }, supplemental_groups_policy: 'Strict' } } }, 'plain', 'uid=1000(alice) gid=1000(alice) groups=1000(alice)'],
    ];
    // the kernel keeps supplementary groups sorted, so `id` lists them in numeric order
    for (const [name, cfg, image, expected] of cases) {
      const id = await fx.run(pod, image, { metadata: { name }, ...cfg });
      const s = await fx.waitExited(id);
      assert.equal(s.exit_code, 0, name);
      assert.equal(fx.logText(pod, name).trim(), expected, name);
      if (name === 'u-run-as-user') assert.deepEqual(s.user?.linux, { uid: '1001', gid: '100', supplemental_groups: ['100', '10', '4242'] });
    }
  });

  it('refuses a named user that the image does not have', async () => {
    const e = await expectCode(fx.create(pod, 'plain', { metadata: { name: 'ghost' }, linux: { security_context: { run_as_username: 'ghost' } } }), grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /user "ghost" not found/);
    // the name is free again after the failure
    await expectCode(fx.create(pod, 'plain', { metadata: { name: 'ghost' }, linux: { security_context: { run_as_username: 'ghost' } } }), grpc.status.INVALID_ARGUMENT);
  });

  it('answers a second create with the same name and attempt with ALREADY_EXISTS naming the first', async () => {
    const id = await fx.create(pod, 'plain', { metadata: { name: 'dup', attempt: 1 } });
    const e = await expectCode(fx.create(pod, 'plain', { metadata: { name: 'dup', attempt: 1 } }), grpc.status.ALREADY_EXISTS);
    assert.ok(e.details.includes(id));
  });

  it('after a create the client gave up on, a retry with the same name either gets the finished container or a fresh one', async () => {
    const config = { metadata: { name: 'retried' }, image: { image: fx.image('plain') }, log_path: 'retried.log' };
    await fx.client.runtime('CreateContainer', { pod_sandbox_id: pod.id, sandbox_config: pod.config, config }, { deadlineMs: 5 }).catch(() => undefined);
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      try {
        id = (await fx.client.runtime('CreateContainer', { pod_sandbox_id: pod.id, sandbox_config: pod.config, config })).container_id!;
      } catch (err) {
        const e = err as grpc.ServiceError;
        assert.equal(e.code, grpc.status.ALREADY_EXISTS, e.message);
        const existing = /container ([0-9a-f]{64})/.exec(e.details)![1]!;
        const listed = ((await fx.client.runtime('ListContainers', { filter: { id: existing } })).containers ?? []).length;
        if (listed === 1) id = existing;
        else await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.ok(id, 'the name was never released nor its container shown');
    assert.equal((await fx.status(id)).state, 'CONTAINER_CREATED');
    const named = ((await fx.client.runtime('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers ?? []).filter((c) => c.metadata?.name === 'retried');
    assert.equal(named.length, 1);
  });

  it('mounts the pod\'s hostname, hosts and resolv.conf, and image VOLUMEs as empty writable directories', async () => {
    const id = await fx.run(pod, 'volume', { metadata: { name: 'vol' } });
    const r = await fx.exec(id, ['sh', '-c', 'cat /etc/hostname; ls -A /data | wc -l; touch /data/x && echo writable; grep -c . /etc/hosts >/dev/null && echo hosts']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, `${pod.config.hostname}\n0\nwritable\nhosts\n`);
  });

  it('bind-mounts host paths read-only or with host-to-container propagation, and refuses a missing host path', async () => {
    const host = join(fx.dirs.base, 'hostdata');
    mkdirSync(join(host, 'sub'), { recursive: true });
    mkdirSync(join(host, 'submount'), { recursive: true });
    writeFileSync(join(host, 'file'), 'from-host\n');
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', join(host, 'submount')]).status, 0);
    const id = await fx.run(pod, 'plain', {
      metadata: { name: 'mounts' },
      mounts: [
        { container_path: '/ro', host_path: host, readonly: true },
        { container_path: '/slave', host_path: host, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
      ],
    });
    try {
      const ro = await fx.exec(id, ['sh', '-c', 'cat /ro/file; touch /ro/new']);
      assert.equal(ro.stdout, 'from-host\n');
      assert.notEqual(ro.exitCode, 0);
      // read-only without recursive_read_only covers the top mount only, as in the peers
      const sub = await fx.exec(id, ['touch', '/ro/submount/x']);
      assert.equal(sub.exitCode, 0, sub.stderr);
      const mount = spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', join(host, 'sub')]);
      assert.equal(mount.status, 0, String(mount.stderr));
      writeFileSync(join(host, 'sub', 'late'), 'propagated\n');
      const slave = await fx.exec(id, ['cat', '/slave/sub/late']);
      assert.equal(slave.stdout, 'propagated\n');
      const s = await fx.status(id);
      assert.deepEqual(s.mounts!.map((m) => [m.container_path, m.propagation, m.readonly]), [['/ro', 'PROPAGATION_PRIVATE', true], ['/slave', 'PROPAGATION_HOST_TO_CONTAINER', false]]);
    } finally {
      await fx.client.runtime('RemoveContainer', { container_id: id });
      spawnSync('umount', ['-l', join(host, 'sub')]);
      spawnSync('umount', ['-l', join(host, 'submount')]);
    }
    assert.deepEqual(mountsBelow(host), [], 'removing the container undid the shared bind mount it made');
    await expectCode(fx.create(pod, 'plain', { metadata: { name: 'nohost' }, mounts: [{ container_path: '/x', host_path: join(fx.dirs.base, 'does-not-exist') }] }), grpc.status.INVALID_ARGUMENT);
  });

  it('makes the root filesystem read-only when asked', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'rofs' }, linux: { security_context: { readonly_rootfs: true } } });
    const r = await fx.exec(id, ['touch', '/newfile']);
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /Read-only file system/);
  });

  it('grants the default capabilities, add and drop, visible in /proc/self/status', async () => {
    const capEff = async (name: string, caps?: { add_capabilities?: string[]; drop_capabilities?: string[] }) => {
      const id = await fx.run(pod, 'plain', { metadata: { name }, command: ['sh', '-c', 'grep CapEff /proc/self/status'], linux: { security_context: caps ? { capabilities: caps } : {} } });
      await fx.waitExited(id);
      return BigInt(`0x${fx.logText(pod, name).trim().split(/\s+/)[1]}`);
    };
    const bits = (...n: number[]) => n.reduce((m, b) => m | (1n << BigInt(b)), 0n);
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    const defaults = bits(0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31);
    assert.equal(await capEff('caps-default'), defaults);
    assert.equal(await capEff('caps-add-drop', { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['CHOWN'] }), (defaults | bits(12)) & ~bits(0));
    assert.equal(await capEff('caps-drop-all', { drop_capabilities: ['ALL'] }), 0n);
  });

  it('denies unshare under the RuntimeDefault seccomp profile, allows it Unconfined and when no profile is named (the default setting)', async () => {
    const attempt = async (name: string, seccomp?: { profile_type: 'RuntimeDefault' | 'Unconfined' }) => {
      const id = await fx.run(pod, 'plain', { metadata: { name }, command: ['unshare', '-U', 'true'], linux: { security_context: seccomp ? { seccomp } : {} } });
      return (await fx.waitExited(id)).exit_code;
    };
    assert.equal(await attempt('seccomp-empty'), 0);
    assert.notEqual(await attempt('seccomp-default', { profile_type: 'RuntimeDefault' }), 0);
    assert.equal(await attempt('seccomp-unconfined', { profile_type: 'Unconfined' }), 0);
  });
});

describe('namespaces', () => {
  it('puts a container of a host-network pod on the host network even when the container names no namespace options', async () => {
    const hostPod = await fx.runPod({ linux: { security_context: { namespace_options: { network: 'NODE', ipc: 'NODE' } } } });
    try {
      const id = await fx.run(hostPod, 'plain', { metadata: { name: 'host-net-plain' } });
      const r = await fx.exec(id, ['ls', '-l', '/proc/self/ns/net', '/proc/self/ns/ipc']);
      assert.ok(r.stdout.includes(readlinkSync('/proc/self/ns/net')), r.stdout);
      assert.ok(r.stdout.includes(readlinkSync('/proc/self/ns/ipc')), r.stdout);
    } finally {
      await fx.removePod(hostPod.id);
    }
  });
});

describe('security options', () => {
  it('gives a privileged container the daemon\'s own capabilities, host devices and a writable /sys', async () => {
    const privPod = await fx.runPod({ linux: { security_context: { privileged: true } } });
    const id = await fx.run(privPod, 'plain', { metadata: { name: 'priv' }, linux: { security_context: { privileged: true } } });
    const r = await fx.exec(id, ['sh', '-c', 'grep CapEff /proc/self/status; grep " /sys " /proc/self/mounts; test -e /dev/loop-control && echo hostdev']);
    const own = /CapEff:\s+(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    assert.match(r.stdout, new RegExp(`CapEff:\\s+${own}`));
    assert.match(r.stdout, / \/sys sysfs rw/);
    assert.match(r.stdout, /hostdev/);
    await fx.removePod(privPod.id);
  });

  it('applies a Localhost seccomp profile from a file', async () => {
    const profile = join(fx.dirs.base, 'no-mkdir.json');
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
    const id = await fx.run(pod, 'plain', { metadata: { name: 'seccomp-local' }, command: ['mkdir', '/tmp/x'], linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: profile } } } });
    assert.notEqual((await fx.waitExited(id)).exit_code, 0);
    assert.match(fx.logText(pod, 'seccomp-local'), /Operation not permitted/);
    await expectCode(fx.create(pod, 'plain', { metadata: { name: 'seccomp-missing' }, linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(fx.dirs.base, 'absent.json') } } } }), grpc.status.NOT_FOUND);
  });

  it('joins another container\'s PID namespace with TARGET', async () => {
    const target = await fx.run(pod, 'plain', { metadata: { name: 'target' }, command: ['sleep', '4242'] });
    const joiner = await fx.run(pod, 'plain', { metadata: { name: 'joiner' }, linux: { security_context: { namespace_options: { pid: 'TARGET', target_id: target } } } });
    const ps = await fx.exec(joiner, ['ps', '-o', 'args']);
    assert.match(ps.stdout, /sleep 4242/);
  });
});

describe('ListContainers and ContainerStatus', () => {
  it('filters by id, id prefix, pod, state and labels and reports verbose info with the pid and spec', async () => {
    const other = await fx.runPod();
    const running = await fx.run(other, 'plain', { metadata: { name: 'l1' }, labels: { tier: 'web' } });
    const created = await fx.create(other, 'plain', { metadata: { name: 'l2' }, labels: { tier: 'db' } });
    const ids = async (filter: object) => ((await fx.client.runtime('ListContainers', { filter })).containers ?? []).map((c) => c.id).sort();
    assert.deepEqual(await ids({ pod_sandbox_id: other.id }), [running, created].sort());
    assert.deepEqual(await ids({ id: running }), [running]);
    assert.deepEqual(await ids({ id: running.slice(0, 12) }), [running]);
    assert.deepEqual(await ids({ pod_sandbox_id: other.id, state: { state: 'CONTAINER_CREATED' } }), [created]);
    assert.deepEqual(await ids({ label_selector: { tier: 'web' } }), [running]);
    const s = await fx.client.runtime('ContainerStatus', { container_id: running.slice(0, 16), verbose: true });
    assert.equal(s.status!.state, 'CONTAINER_RUNNING');
    assert.equal(s.status!.image!.image, fx.image('plain'));
    assert.match(s.status!.image_ref!, /@sha256:|^sha256:/);
    const info = JSON.parse(s.info!.info!);
    assert.ok(info.pid > 0);
    assert.deepEqual(info.runtimeSpec.process.args, ['sleep', '1000']);
    await expectCode(fx.client.runtime('ContainerStatus', { container_id: 'nope' }), grpc.status.NOT_FOUND);
    await fx.removePod(other.id);
    assert.deepEqual(await ids({ pod_sandbox_id: other.id }), []);
  });
});

describe('StopContainer and RemoveContainer', () => {
  it('stops with the image STOPSIGNAL, and kills a container that ignores its signal after the timeout', async () => {
    const usr1 = await fx.run(pod, 'usr1', { metadata: { name: 'usr1' } });
    for (let i = 0; i < 100 && !fx.logText(pod, 'usr1').includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    await fx.client.runtime('StopContainer', { container_id: usr1, timeout: 10 });
    const s1 = await fx.status(usr1);
    assert.equal(s1.state, 'CONTAINER_EXITED');
    assert.equal(s1.exit_code, 5);
    assert.match(fx.logText(pod, 'usr1'), /got-usr1/);

    // sleep as PID 1 has no handler, so SIGTERM does nothing
    const stubborn = await fx.run(pod, 'plain', { metadata: { name: 'stubborn' } });
    const started = Date.now();
    await fx.client.runtime('StopContainer', { container_id: stubborn, timeout: 1 });
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 8000, `stop took ${took} ms`);
    const s2 = await fx.status(stubborn);
    assert.equal(s2.exit_code, 137);
    assert.equal(s2.reason, 'Error');
    // idempotent
    await fx.client.runtime('StopContainer', { container_id: stubborn, timeout: 1 });
    await fx.client.runtime('RemoveContainer', { container_id: stubborn });
    await fx.client.runtime('RemoveContainer', { container_id: stubborn });
    await expectCode(fx.client.runtime('ContainerStatus', { container_id: stubborn }), grpc.status.NOT_FOUND);
    assert.ok(existsSync(join(pod.config.log_directory!, 'stubborn.log')), 'the log stays for kubelet');
  });

  it('RemoveContainer force-stops a running container', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'forced' } });
    const pid = JSON.parse((await fx.client.runtime('ContainerStatus', { container_id: id, verbose: true })).info!.info!).pid as number;
    await fx.client.runtime('RemoveContainer', { container_id: id });
    assert.ok(!existsSync(`/proc/${pid}/cmdline`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), 'the process is gone');
  });
});

describe('ExecSync', () => {
  it('returns exit code and separate stdout/stderr; a missing binary is a non-zero exit, not an error', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'exec1' } });
    const r = await fx.exec(id, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual(r, { exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    const missing = await fx.exec(id, ['/no/such/thing']);
    assert.notEqual(missing.exitCode, 0);
  });

  it('answers a timed-out command with a non-zero exit code and the output so far, within the timeout', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'exec2' } });
    const started = Date.now();
    const r = await fx.exec(id, ['sh', '-c', 'echo partial-output; sleep 30'], 1);
    assert.ok(Date.now() - started < 5000);
    assert.notEqual(r.exitCode, 0);
    assert.equal(r.stdout, 'partial-output\n');
    const ps = await fx.exec(id, ['ps', '-o', 'comm']);
    assert.ok(!/sleep\s*\n.*sleep/s.test(ps.stdout.replace(/^.*\n/, '')) || ps.stdout.split('\n').filter((l) => l.trim() === 'sleep').length === 1, ps.stdout);
  });

  it('serves 100 concurrent ExecSync calls without stalling other RPCs, and after 1,000 leaves no defunct process', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'exec-many' } });
    const versions: number[] = [];
    let done = false;
    const prober = (async () => {
      while (!done) {
        const t = Date.now();
        await fx.client.runtime('Version', {});
        versions.push(Date.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => fx.exec(id, ['echo', String(i)])));
    done = true;
    await prober;
    results.forEach((r, i) => assert.equal(r.stdout, `${i}\n`, JSON.stringify(r)));
    assert.ok(Math.max(...versions) < 1000, `Version took up to ${Math.max(...versions)} ms`);
    for (let wave = 1; wave < 10; wave++) {
      const more = await Promise.all(Array.from({ length: 100 }, () => fx.exec(id, ['true'])));
      assert.ok(more.every((r) => r.exitCode === 0));
    }
    // Defunct children of the daemon or of any conmon: what a missed wait() leaves behind.
    const parents = new Set([String(fx.daemon.pid), ...spawnSync('pgrep', ['-x', 'conmon']).stdout.toString().split('\n').filter(Boolean)]);
    const zombies = spawnSync('ps', ['-eo', 'ppid=,stat=,pid=,comm=']).stdout.toString().split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(([ppid, stat]) => stat?.startsWith('Z') && parents.has(ppid!));
    assert.deepEqual(zombies, []);
  });

  it('answers 1,000 concurrent ExecSync calls with every byte each one printed (seeded), the daemon\'s RSS growing less than 64 MiB', async (t) => {
    const seed = testSeed(1_000);
    const id = await fx.run(pod, 'plain', { metadata: { name: 'exec-bytes' } });
    const plans = planExecs(1000, seed);
    // The calls wait for an exec slot (lib/oci/runtime-handlers.ts) holding only their request.
    const { result: answers, baseline, peak } = await watchRss(fx.daemon.pid, () => Promise.all(plans.map((p) => fx.exec(id, p.cmd, 60))));
    const wrong = plans.map((p, i) => ({ i, lost: lostBytes(p, answers[i]!) })).filter((w) => w.lost > 0);
    assert.deepEqual(wrong, [], `seed ${seed}: calls with lost bytes (RUNCRI_TEST_SEED=${seed} replays them)`);
    t.diagnostic(`daemon RSS ${(baseline / 2 ** 20).toFixed(1)} MiB before, peak ${(peak / 2 ** 20).toFixed(1)} MiB`);
    assert.ok(peak - baseline < 64 * 2 ** 20, `daemon RSS grew ${((peak - baseline) / 2 ** 20).toFixed(1)} MiB`);
  });

  it('refuses a container that is not running', async () => {
    const id = await fx.create(pod, 'plain', { metadata: { name: 'exec3' } });
    await expectCode(fx.client.runtime('ExecSync', { container_id: id, cmd: ['true'], timeout: 5 }), grpc.status.FAILED_PRECONDITION);
  });
});

describe('resources and logs of a running container', () => {
  it('kills a container that allocates past its memory limit and reports OOMKilled; a SIGKILL by stop is not OOM', async () => {
    const id = await fx.run(pod, 'plain', {
      metadata: { name: 'oom' },
      command: ['sh', '-c', 'x=$(head -c 134217728 /dev/zero | tr "\\0" a); echo survived'],
      linux: { resources: { memory_limit_in_bytes: 32 * 1024 * 1024, memory_swap_limit_in_bytes: 32 * 1024 * 1024 } },
    });
    const s = await fx.waitExited(id, 30_000);
    assert.equal(s.exit_code, 137);
    assert.equal(s.reason, 'OOMKilled');
    const killed = await fx.run(pod, 'plain', { metadata: { name: 'notoom' }, linux: { resources: { memory_limit_in_bytes: 32 * 1024 * 1024 } } });
    await fx.client.runtime('StopContainer', { container_id: killed, timeout: 0 });
    assert.equal((await fx.status(killed)).reason, 'Error');
  });

  it('updates a running container\'s memory limit in its cgroup', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'upd' }, linux: { resources: { memory_limit_in_bytes: 64 * 1024 * 1024 } } });
    const limitFile = `/sys/fs/cgroup/memory${pod.config.linux!.cgroup_parent}/runcri-${id}/memory.limit_in_bytes`;
    assert.equal(readFileSync(limitFile, 'utf8').trim(), String(64 * 1024 * 1024));
    await fx.client.runtime('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: 96 * 1024 * 1024 } });
    assert.equal(readFileSync(limitFile, 'utf8').trim(), String(96 * 1024 * 1024));
    assert.equal(Number((await fx.status(id)).resources!.linux!.memory_limit_in_bytes), 96 * 1024 * 1024);
  });

  it('reopens the log after kubelet renames it, and the new file exists when the call returns', async () => {
    const id = await fx.run(pod, 'plain', { metadata: { name: 'rotate' }, command: ['sh', '-c', 'while true; do echo tick; sleep 0.1; done'] });
    const log = join(pod.config.log_directory!, 'rotate.log');
    for (let i = 0; i < 50 && !existsSync(log); i++) await new Promise((r) => setTimeout(r, 50));
    renameSync(log, `${log}.1`);
    await fx.client.runtime('ReopenContainerLog', { container_id: id });
    assert.ok(existsSync(log), 'the log file is back as soon as ReopenContainerLog answers');
    for (let i = 0; i < 50 && !(existsSync(log) && readFileSync(log, 'utf8').includes('tick')); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(readFileSync(log, 'utf8'), /stdout F tick/);
  });
});

describe('containers of one pod', () => {
  it('share the pod network (localhost) and, with pid POD, see each other\'s processes', async () => {
    const shared = await fx.runPod({ linux: { security_context: { namespace_options: { pid: 'POD' } } } });
    const nsOpts = { namespace_options: { pid: 'POD' as const } };
    const server = await fx.run(shared, 'plain', { metadata: { name: 'server' }, command: ['sh', '-c', 'while true; do echo hello-from-server | nc -l -p 8080; done'], linux: { security_context: nsOpts } });
    const client = await fx.run(shared, 'plain', { metadata: { name: 'client' }, linux: { security_context: nsOpts } });
    let got = '';
    for (let i = 0; i < 40 && !got.includes('hello'); i++) {
      got = (await fx.exec(client, ['nc', '127.0.0.1', '8080'])).stdout;
      if (!got.includes('hello')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(got, 'hello-from-server\n');
    const ps = await fx.exec(client, ['ps', '-o', 'args']);
    assert.match(ps.stdout, /nc -l -p 8080/);
    assert.ok(server);
    await fx.removePod(shared.id);
    await expectCode(fx.client.runtime('ContainerStatus', { container_id: client }), grpc.status.NOT_FOUND);
  });
});
