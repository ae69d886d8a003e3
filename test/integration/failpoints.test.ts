/**
 * Every failpoint of RunPodSandbox, CreateContainer, StartContainer, StopContainer,
 * RemoveContainer, StopPodSandbox, RemovePodSandbox and PullImage, in both modes, through the
 * real socket against runc, conmon, CNI and a loopback registry:
 *
 * - `error` (armed as `1*error`): the RPC fails with an error naming the failpoint; what it
 *   was making is gone at once, the state says so, and a retry in the same daemon succeeds.
 * - `kill`: the daemon dies right there; a daemon started again without the failpoint tells
 *   the truth about what the killed call had done, and a retry or a removal succeeds.
 *
 * Either way, once the test removes what it made through CRI, nothing is left on the node:
 * no mount, pinned namespace, IP lease, veth, iptables rule, cgroup, conmon or other process,
 * socket, bundle, temporary or layer directory (test/helpers/leaks.ts counts them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { TestDaemon } from '../helpers/daemon.js';
import { expectCode, type CriClient } from '../helpers/cri-client.js';
import { assertNothingLeft, countLeaks, sizes, type LeakCounts, type LeakScope } from '../helpers/leaks.js';
import { buildImage, makeLayer, pushImage } from '../helpers/oci-image.js';
import { mountsBelow } from '../helpers/system.js';
import { FAILPOINTS, FAILPOINTS_ENV, type FailpointName } from '../../lib/failpoints/index.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';

type Mode = 'error' | 'kill';

interface Pod {
  id: string;
  config: PodSandboxConfig;
}

/** What a scenario made before its RPC, and what the RPC made. */
interface Ctx {
  tag: string;
  config?: PodSandboxConfig;
  pod?: Pod;
  container?: string;
}

interface Scenario {
  /** The failed RPC makes something: after it nothing may be left of it, before any cleanup. */
  makes: boolean;
  prepare(ctx: Ctx): Promise<void>;
  /** The call that passes the failpoint. */
  trigger(c: CriClient, ctx: Ctx): Promise<unknown>;
  /** What the state must say after the error (same daemon) or after the kill and a restart. */
  truth(c: CriClient, ctx: Ctx, mode: Mode): Promise<void>;
  /** A retry, or a removal, that must now succeed. */
  retry(c: CriClient, ctx: Ctx, mode: Mode): Promise<void>;
}

let fx: ContainerFixture;
let scope: LeakScope;
let baseline: LeakCounts;
let pullImageName: string;
const walked: string[] = [];

const client = (): CriClient => fx.daemon.client;

function podConfig(tag: string): PodSandboxConfig {
  return fx.podConfig({
    metadata: { name: `fp-${tag}`, uid: `uid-fp-${tag}`, namespace: 'failpoints', attempt: 0 },
    // A host port gives the pod portmap's iptables rules, a pod-wide PID namespace an infra process.
    port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 20_000 + Math.floor(Math.random() * 30_000) }],
    linux: { security_context: { namespace_options: { pid: 'POD' } } },
  });
}

async function runPod(ctx: Ctx): Promise<void> {
  ctx.config = podConfig(ctx.tag);
  ctx.pod = { id: (await client().runtime('RunPodSandbox', { config: ctx.config })).pod_sandbox_id!, config: ctx.config };
}

async function createContainer(c: CriClient, ctx: Ctx): Promise<string> {
  const res = await c.runtime('CreateContainer', {
    pod_sandbox_id: ctx.pod!.id, sandbox_config: ctx.pod!.config,
    config: { metadata: { name: 'work' }, image: { image: fx.image('plain') }, log_path: 'work.log' },
  });
  return res.container_id!;
}

async function podsNamed(c: CriClient, tag: string) {
  return ((await c.runtime('ListPodSandbox', {})).items ?? []).filter((p) => p.metadata?.name === `fp-${tag}`);
}

async function containersOf(c: CriClient, podId: string) {
  return (await c.runtime('ListContainers', { filter: { pod_sandbox_id: podId } })).containers ?? [];
}

async function containerState(c: CriClient, id: string) {
  return (await c.runtime('ContainerStatus', { container_id: id })).status!;
}

/** The container's exit is recorded by conmon a moment after the kill: waits for it (bounded). */
async function waitExited(c: CriClient, id: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((await containerState(c, id)).state !== 'CONTAINER_EXITED') {
    if (Date.now() > deadline) assert.fail(`container ${id} is not reported exited`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const podRun: Scenario = {
  makes: true,
  prepare: async (ctx) => { ctx.config = podConfig(ctx.tag); },
  trigger: (c, ctx) => c.runtime('RunPodSandbox', { config: ctx.config }),
  truth: async (c, ctx) => assert.deepEqual(await podsNamed(c, ctx.tag), [], 'the failed pod is not listed'),
  retry: async (c, ctx) => {
    // Same name: the failed call gave it back.
    const id = (await c.runtime('RunPodSandbox', { config: ctx.config })).pod_sandbox_id!;
    const status = (await c.runtime('PodSandboxStatus', { pod_sandbox_id: id })).status!;
    assert.equal(status.state, 'SANDBOX_READY');
    assert.match(status.network!.ip!, new RegExp(`^${fx.net.prefix.replace(/\./g, '\\.')}\\.`));
  },
};

const containerCreate: Scenario = {
  makes: true,
  prepare: runPod,
  trigger: (c, ctx) => createContainer(c, ctx),
  truth: async (c, ctx) => assert.deepEqual(await containersOf(c, ctx.pod!.id), [], 'the failed container is not listed'),
  retry: async (c, ctx) => {
    const id = await createContainer(c, ctx);
    await c.runtime('StartContainer', { container_id: id });
    assert.equal((await containerState(c, id)).state, 'CONTAINER_RUNNING');
  },
};

const containerStart: Scenario = {
  makes: false,
  prepare: async (ctx) => {
    await runPod(ctx);
    ctx.container = await createContainer(client(), ctx);
  },
  trigger: (c, ctx) => c.runtime('StartContainer', { container_id: ctx.container }),
  truth: async (c, ctx, mode) => {
    if (mode === 'error') {
      // A start that failed leaves no process behind the record's word.
      const s = await containerState(c, ctx.container!);
      assert.equal(s.state, 'CONTAINER_EXITED');
      assert.equal(s.reason, 'ContainerCannotRun');
      await expectCode(c.runtime('ExecSync', { container_id: ctx.container, cmd: ['true'], timeout: 5 }), grpc.status.FAILED_PRECONDITION);
    } else {
      // The runtime had started it before the daemon died: it runs, and says so.
      assert.equal((await containerState(c, ctx.container!)).state, 'CONTAINER_RUNNING');
      const r = await c.runtime('ExecSync', { container_id: ctx.container, cmd: ['echo', 'alive'], timeout: 5 });
      assert.equal(Buffer.from(r.stdout!).toString(), 'alive\n');
    }
  },
  retry: async (c, ctx) => {
    await c.runtime('RemoveContainer', { container_id: ctx.container });
    await expectCode(c.runtime('ContainerStatus', { container_id: ctx.container }), grpc.status.NOT_FOUND);
  },
};

const containerStop: Scenario = {
  makes: false,
  prepare: async (ctx) => {
    await runPod(ctx);
    ctx.container = await createContainer(client(), ctx);
    await client().runtime('StartContainer', { container_id: ctx.container });
  },
  trigger: (c, ctx) => c.runtime('StopContainer', { container_id: ctx.container, timeout: 0 }),
  truth: async (c, ctx) => {
    await waitExited(c, ctx.container!);
    assert.equal((await containerState(c, ctx.container!)).exit_code, 137);
  },
  retry: async (c, ctx) => {
    await c.runtime('StopContainer', { container_id: ctx.container, timeout: 0 });
    await c.runtime('RemoveContainer', { container_id: ctx.container });
  },
};

const containerRemove: Scenario = {
  makes: false,
  prepare: async (ctx) => {
    await runPod(ctx);
    ctx.container = await createContainer(client(), ctx);
    await client().runtime('StartContainer', { container_id: ctx.container });
    await client().runtime('StopContainer', { container_id: ctx.container, timeout: 0 });
  },
  trigger: (c, ctx) => c.runtime('RemoveContainer', { container_id: ctx.container }),
  truth: async (c, ctx) => assert.equal((await containerState(c, ctx.container!)).state, 'CONTAINER_EXITED'),
  retry: async (c, ctx) => {
    await c.runtime('RemoveContainer', { container_id: ctx.container });
    await expectCode(c.runtime('ContainerStatus', { container_id: ctx.container }), grpc.status.NOT_FOUND);
  },
};

const podWithContainer = async (ctx: Ctx): Promise<void> => {
  await runPod(ctx);
  ctx.container = await createContainer(client(), ctx);
  await client().runtime('StartContainer', { container_id: ctx.container });
};

const podStop: Scenario = {
  makes: false,
  prepare: podWithContainer,
  trigger: (c, ctx) => c.runtime('StopPodSandbox', { pod_sandbox_id: ctx.pod!.id }),
  truth: async (c, ctx) => {
    assert.equal((await c.runtime('PodSandboxStatus', { pod_sandbox_id: ctx.pod!.id })).status!.state, 'SANDBOX_NOTREADY');
    await waitExited(c, ctx.container!);
  },
  retry: async (c, ctx) => {
    await c.runtime('StopPodSandbox', { pod_sandbox_id: ctx.pod!.id });
    await c.runtime('RemovePodSandbox', { pod_sandbox_id: ctx.pod!.id });
    await expectCode(c.runtime('PodSandboxStatus', { pod_sandbox_id: ctx.pod!.id }), grpc.status.NOT_FOUND);
  },
};

const podRemove: Scenario = {
  makes: false,
  prepare: podWithContainer,
  trigger: (c, ctx) => c.runtime('RemovePodSandbox', { pod_sandbox_id: ctx.pod!.id }),
  truth: async (c, ctx) => {
    assert.equal((await c.runtime('PodSandboxStatus', { pod_sandbox_id: ctx.pod!.id })).status!.state, 'SANDBOX_NOTREADY');
    assert.deepEqual(await containersOf(c, ctx.pod!.id), [], 'its containers are removed');
  },
  retry: async (c, ctx) => {
    await c.runtime('RemovePodSandbox', { pod_sandbox_id: ctx.pod!.id });
    await expectCode(c.runtime('PodSandboxStatus', { pod_sandbox_id: ctx.pod!.id }), grpc.status.NOT_FOUND);
  },
};

const pull: Scenario = {
  makes: true,
  prepare: async () => undefined,
  trigger: (c) => c.image('PullImage', { image: { image: pullImageName } }),
  truth: async (c) => assert.equal((await c.image('ImageStatus', { image: { image: pullImageName } })).image, null, 'the image is not there'),
  retry: async (c) => {
    await c.image('PullImage', { image: { image: pullImageName } });
    assert.ok((await c.image('ImageStatus', { image: { image: pullImageName } })).image);
  },
};

const SCENARIOS: Record<FailpointName, Scenario> = {
  'sandbox.run.after-netns-pin': podRun,
  'sandbox.run.after-cni-add': podRun,
  'sandbox.run.after-infra-start': podRun,
  'sandbox.run.after-cgroup-create': podRun,
  'sandbox.run.before-ready': podRun,
  'container.create.after-rootfs-mount': containerCreate,
  'container.create.after-conmon-start': containerCreate,
  'container.start.after-runtime-start': containerStart,
  'container.stop.after-kill-signal': containerStop,
  'container.remove.after-runtime-delete': containerRemove,
  'sandbox.stop.after-network-detach': podStop,
  'sandbox.remove.after-containers-removed': podRemove,
  'sandbox.remove.after-namespaces-unpinned': podRemove,
  'image.pull.mid-layer-unpack': pull,
  'image.pull.before-layer-rename': pull,
  'image.pull.mid-commit': pull,
};

async function startDaemon(armed?: string): Promise<void> {
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs, ...(armed ? { env: { [FAILPOINTS_ENV]: armed } } : {}) });
}

/** Through CRI: every pod, and the pulled image. */
async function removeEverything(c: CriClient): Promise<void> {
  for (const p of (await c.runtime('ListPodSandbox', {})).items ?? []) {
    await c.runtime('StopPodSandbox', { pod_sandbox_id: p.id });
    await c.runtime('RemovePodSandbox', { pod_sandbox_id: p.id });
  }
  await c.image('RemoveImage', { image: { image: pullImageName } });
}

before(async () => {
  fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '100000'] } });
  // An image of its own for the pulls: two layers (unpacked side by side), none shared.
  const layers = await Promise.all(['one', 'two'].map((n) => makeLayer([
    { path: `${n}/`, type: 'directory' },
    ...Array.from({ length: 20 }, (_, i) => ({ path: `${n}/f${i}`, content: randomBytes(16 * 1024) })),
  ])));
  await pushImage(fx.registry.host, 'test/pullme', 'v1', buildImage(layers, { config: { Cmd: ['true'] } }));
  pullImageName = `${fx.registry.host}/test/pullme:v1`;
  scope = { dirs: fx.dirs, net: fx.net, cgroupRoot: fx.cgroupRoot, daemonPids: () => [fx.daemon.pid] };
  baseline = countLeaks(scope);
  // The counters see what a pod has: they could fail.
  const ctx: Ctx = { tag: 'probe' };
  await runPod(ctx);
  const seen = sizes(countLeaks(scope));
  for (const kind of ['netnsPins', 'ipLeases', 'veths', 'iptablesRules', 'cgroups', 'podDirs', 'otherProcesses', 'cniCache'] as const) {
    assert.ok(seen[kind] > baseline[kind].length, `a running pod shows in ${kind}: ${JSON.stringify(seen)}`);
  }
  await removeEverything(client());
  await assertNothingLeft(scope, baseline, 'the probe pod');
  await fx.daemon.stop();
});

after(async () => {
  if (!fx) return;
  // destroy() removes what is left through a running daemon.
  if (fx.daemon.ending) await startDaemon();
  await fx.destroy();
});

/** One step of the walk: arm the failpoint, pass it, look at what is left, retry, remove, look again. */
async function walk(name: FailpointName, rpc: string, mode: Mode): Promise<void> {
  const scenario = SCENARIOS[name];
  const ctx: Ctx = { tag: `${name.split('.').slice(1).join('-')}-${mode}`.slice(0, 40) };
  await startDaemon(mode === 'error' ? `${name}=1*error` : `${name}=kill`);
  const died = fx.daemon;
  await scenario.prepare(ctx);
  const beforeCall = countLeaks(scope);
  const outcome = await scenario.trigger(client(), ctx).then(() => undefined, (err: grpc.ServiceError) => err);
  assert.ok(outcome, `${rpc} went through ${name} without failing`);
  if (mode === 'error') {
    assert.equal(outcome.code, grpc.status.INTERNAL, outcome.message);
    assert.match(outcome.message, new RegExp(`failpoint ${name.replace(/\./g, '\\.')}: injected failure`));
  } else {
    await Promise.race([died.waitExit(), new Promise((_, reject) => setTimeout(() => reject(new Error(`the daemon did not die at ${name}`)), 15_000))]);
    assert.equal(died.ending?.signal, 'SIGKILL', `the daemon ended ${JSON.stringify(died.ending)}`);
    assert.match(died.stderr, new RegExp(`"failpoint":"${name.replace(/\./g, '\\.')}"`));
    died.client.close();
    await startDaemon();
  }
  if (scenario.makes) {
    // runc makes the pod's cgroup in a hybrid host's cgroup2 mount with the first container
    // it creates there; it is the pod's, removed with the pod.
    const podCgroup = ctx.pod?.config.linux?.cgroup_parent;
    await assertNothingLeft(scope, beforeCall, `after ${rpc} failed at ${name} (${mode})`, {
      belongsElsewhere: (kind, item) => kind === 'cgroups' && !!podCgroup && item === `/sys/fs/cgroup/unified${podCgroup}`,
    });
  }
  await scenario.truth(client(), ctx, mode);
  await scenario.retry(client(), ctx, mode);
  await removeEverything(client());
  await assertNothingLeft(scope, baseline, `after ${name} (${mode}) and removing everything`);
}

describe('failpoints', () => {
  it('has a scenario for every failpoint in the registry', () => {
    assert.deepEqual(FAILPOINTS.map((f) => f.name).filter((n) => !(n in SCENARIOS)), []);
  });

  for (const { name, rpc } of FAILPOINTS) {
    for (const mode of ['error', 'kill'] as const) {
      it(`${rpc} at ${name} (${mode}): ${mode === 'error' ? 'fails clearly and leaves nothing; a retry succeeds' : 'after a restart the state is true, a retry or removal succeeds'}; nothing is left`, async () => {
        try {
          await walk(name, rpc, mode);
          walked.push(`${name} ${mode} ok`);
        } catch (err) {
          // The daemon's warnings say what it did about the failure.
          const warnings = fx.daemon.stderr.split('\n').filter((l) => /"level":(4|5|6)0/.test(l));
          throw new Error(`${(err as Error).message}\ndaemon warnings:\n${warnings.slice(-20).join('\n')}`, { cause: err });
        } finally {
          // A failed step stops its daemon too: the next one starts on the same directories.
          if (!fx.daemon.ending) await fx.daemon.stop();
        }
      });
    }
  }

  it('leaves nothing once the daemon stops, not even the namespace directory\'s mount', async () => {
    await assertNothingLeft(scope, baseline, 'a stopped daemon');
    assert.deepEqual(mountsBelow(fx.dirs.base), []);
    assert.equal(walked.length, FAILPOINTS.length * 2, walked.join('\n'));
  });
});
