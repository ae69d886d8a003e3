import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { allocatedIps } from '../helpers/cni.js';
import { grpcFrame, RawGrpcSession, type RawOutcome } from '../helpers/grpc-raw.js';
import { Rng, criMethods, encodeMessage, loadCriSchema, overlay, randomObject, withDeepGroups, withUnknownFields, withWrongKnownField, type FieldGuard, type FuzzMethod } from '../helpers/grpc-fuzz.js';
import { mountsBelow } from '../helpers/system.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';
import { tryParseReference } from '../../lib/image/reference.js';

/**
 * Every RPC of both CRI services, through the daemon's own socket, with seeded random and edge
 * values, damaged encodings and broken framing. Every call must end with a gRPC status (no
 * hang, no dropped connection), never INTERNAL or UNKNOWN for input that is merely bad; the
 * daemon must serve afterwards, and what the fuzzer made must be gone after its removal.
 *
 * The fuzzer never touches the node: pods always get their own network and IPC namespaces (so
 * sysctls land in the pod), cgroups go below the test's own parent, host paths (mounts, devices,
 * log and profile files) lie in the test's temp dir or do not exist, containers are never
 * privileged, host ports are high or zero, and the only registries are the test's own and a
 * closed loopback port (docker.io is mapped there too), so no pull leaves the machine.
 * RUNCRI_FUZZ_SEED repeats a run.
 */
const SEED = Number(process.env.RUNCRI_FUZZ_SEED ?? 20261201);
/** A call that has not answered by then is a hang (the slowest honest ones, pulls from a closed port with retries, take about 1 s). */
const CALL_TIMEOUT_MS = 8000;
/**
 * The time bound: each round starts no new call after its budget (what was left out is
 * counted), and the test's own timeout allows one hanging call more. With set-up and teardown
 * the file stays under a minute.
 */
const ROUND_BUDGET_MS = 12_000;
const ROUND_TIMEOUT_MS = ROUND_BUDGET_MS + CALL_TIMEOUT_MS + 2000;
const PARALLEL = Number(process.env.RUNCRI_FUZZ_PARALLEL ?? 8);
const BAD_CODES = new Set<number>([grpc.status.UNKNOWN, grpc.status.INTERNAL, grpc.status.DATA_LOSS]);
/**
 * RPCs whose messages the fuzzer only builds field by field: damage on the wire could undo a
 * guard (a host path, a registry, a stop timeout of days on a real container).
 */
const GUARDED = new Set(['RunPodSandbox', 'CreateContainer', 'PullImage', 'ExecSync', 'StartContainer', 'UpdateContainerResources', 'StopContainer']);
const CLOSED_REGISTRY = '127.0.0.1:1';

let fx: ContainerFixture;
let session: RawGrpcSession;
let scratch: string;
let methods: FuzzMethod[];
const rng = new Rng(SEED);
/** IDs of real pods and containers, mixed into string fields so calls reach past the lookup. */
let knownIds: string[] = [];
const findings: string[] = [];
const codes = new Map<string, number>();
/** Calls answered OK, by RPC: the fuzzer must get past validation too, not only be refused. */
const succeeded = new Map<string, number>();
let calls = 0;

function safeWord(r: Rng): string {
  return r.word(10).replace(/[^a-z0-9]/g, 'x');
}

/** Values for the fields that reach the node, by `Type.field`: see the file comment. */
function guard(): FieldGuard {
  return (_path, field, r) => {
    const key = `${field.parent?.name}.${field.name}`;
    switch (key) {
      case 'LinuxPodSandboxConfig.cgroup_parent': return r.pick(['', `${fx.cgroupRoot}/${safeWord(r)}`]);
      case 'PodSandboxConfig.log_directory': return r.pick(['', `${scratch}/logs/${safeWord(r)}`, 'relative/logs']);
      case 'NamespaceOption.network': case 'NamespaceOption.ipc': return r.pick(['POD', 'CONTAINER', 'TARGET', 17]);
      case 'PortMapping.host_port': return r.pick([0, 0, 40_000 + r.int(20_000), -1, 70_000]);
      case 'PortMapping.host_ip': return r.pick(['', '127.0.0.1', r.word()]);
      case 'LinuxPodSandboxConfig.sysctls': return Object.fromEntries(Array.from({ length: r.int(3) }, () => [
        r.pick(['net.core.somaxconn', 'net/ipv4/ip_unprivileged_port_start', 'kernel.shmmni', 'net.ipv4.no_such_one', 'fs.mqueue.msg_max', r.word(), '', 'net..x']),
        r.pick(['1', '4096', '-1', 'abc', '', ' ', '99999999999999999999', r.word()]),
      ]));
      case 'SecurityProfile.localhost_ref': case 'LinuxContainerSecurityContext.seccomp_profile_path': case 'LinuxSandboxSecurityContext.seccomp_profile_path': case 'LinuxContainerSecurityContext.apparmor_profile':
        return r.pick(['', `${scratch}/missing.json`, `${scratch}/bad-profile.json`, r.word()]);
      case 'LinuxContainerSecurityContext.privileged': return false;
      case 'Mount.host_path': return r.pick([`${scratch}/vol`, `${scratch}/file`, '', 'relative/dir', `${scratch}/missing`]);
      case 'Device.host_path': return r.pick(['/dev/null', `${scratch}/missing-dev`, '', 'rel']);
      case 'ContainerConfig.command': return r.pick([['sleep', '1000'], [r.word()], [], ['/bin/sh', '-c', 'exit 7']]);
      case 'ContainerConfig.log_path': return r.pick(['', 'c.log', r.word(), '../escape.log', `${scratch}/abs.log`]);
      case 'LinuxContainerResources.unified': return {};
      // Never a first component with ".", ":" or an upper-case letter but the closed loopback
      // registry: the daemon would look such a name up in DNS (checked in before()).
      case 'ImageSpec.image': return r.pick([fx.image('sleeper'), `${CLOSED_REGISTRY}/${safeWord(r)}`, `${CLOSED_REGISTRY}/a/b:${safeWord(r)}`, safeWord(r), 'not a reference', '', `${CLOSED_REGISTRY}/x@sha256:${'a'.repeat(64)}`, '../x', 'a\0b', 'é', 'x'.repeat(300), 'sha256:', `sha256:${'0'.repeat(64)}`]);
      case 'ExecSyncRequest.cmd': return r.pick([['true'], ['echo', r.word()], [r.word()], [], ['sh', '-c', 'exit 3'], ['cat']]);
      case 'ExecSyncRequest.timeout': return r.pick(['0', '1', '2', '-1', '9223372036854775807']);
      default: return undefined;
    }
  };
}

/** Cross-field limits a per-field guard cannot express. */
function fixup(method: string, obj: Record<string, unknown>, r: Rng): void {
  // A real container whose PID 1 ignores SIGTERM would hold a long stop for its whole timeout.
  if (method === 'StopContainer') {
    const id = String(obj.container_id ?? '');
    if (id && knownIds.some((k) => k.startsWith(id))) obj.timeout = r.pick(['0', '1', '-1']);
  }
}

function randomMessage(method: FuzzMethod, r: Rng, base?: Record<string, unknown>): { body: Buffer; what: string } {
  const random = randomObject(method.requestType, r, { guard: guard(), extraStrings: () => knownIds });
  const obj = base ? overlay(base, random, r) : random;
  fixup(method.name, obj, r);
  let message = encodeMessage(method.requestType, obj);
  let what = `random fields ${JSON.stringify(obj, (_k, v: unknown) => (typeof v === 'string' && v.length > 80 ? `<${v.length} chars>` : v)).slice(0, 400)}`;
  const roll = r.next();
  if (roll < 0.3) {
    message = withUnknownFields(method.requestType, message, r);
    what += ' + unknown fields';
  } else if (roll < 0.45 && !GUARDED.has(method.name)) {
    message = withWrongKnownField(method.requestType, message, r);
    what += ' + a known field with the wrong wire type or invalid UTF-8';
  }
  return { body: grpcFrame(message), what };
}

/** Bodies that are not a well-formed message, or not a well-formed gRPC frame. */
function brokenBodies(type: protobuf.Type, method: string, r: Rng): { body: Buffer; what: string }[] {
  const header = (flag: number, length: number) => Buffer.from([flag, (length >>> 24) & 255, (length >>> 16) & 255, (length >>> 8) & 255, length & 255]);
  const cases = [
    { body: Buffer.alloc(0), what: 'no message at all' },
    { body: grpcFrame(Buffer.alloc(0)), what: 'an empty message (every field absent)' },
    { body: grpcFrame(r.bytes(1 + r.int(200))), what: 'garbage bytes as the message' },
    { body: r.bytes(1 + r.int(60)), what: 'garbage bytes without framing' },
    { body: Buffer.concat([header(0, 1000), r.bytes(10)]), what: 'a length prefix beyond the body' },
    { body: Buffer.concat([header(1, 2), Buffer.from([0x08, 0x01])]), what: 'the compressed flag without an encoding' },
    { body: Buffer.concat([grpcFrame(Buffer.alloc(0)), grpcFrame(Buffer.alloc(0))]), what: 'two messages in one call' },
    { body: header(0, 100_000_000), what: 'a 100 MB length prefix' },
    { body: grpcFrame(withDeepGroups(type, Buffer.alloc(0), 50_000, r)), what: 'unknown groups nested 50,000 deep' },
  ];
  if (!GUARDED.has(method)) {
    const whole = randomMessage({ requestType: type } as FuzzMethod, r).body.subarray(5);
    cases.push({ body: grpcFrame(whole.subarray(0, Math.floor(whole.length / 2))), what: 'a message cut in half' });
  }
  return cases;
}

function record(method: FuzzMethod, what: string, outcome: RawOutcome): void {
  calls++;
  const label = outcome.kind === 'status' ? grpc.status[outcome.grpcStatus] ?? String(outcome.grpcStatus) : outcome.kind;
  codes.set(label, (codes.get(label) ?? 0) + 1);
  if (outcome.kind === 'status' && outcome.grpcStatus === grpc.status.OK) succeeded.set(method.name, (succeeded.get(method.name) ?? 0) + 1);
  if (outcome.kind === 'status') {
    if (BAD_CODES.has(outcome.grpcStatus)) findings.push(`${method.name} answered ${label} "${outcome.grpcMessage.slice(0, 300)}" to ${what}`);
  } else if (outcome.kind !== 'streaming' || !method.serverStream) {
    findings.push(`${method.name}: ${outcome.kind} ${'detail' in outcome ? outcome.detail : ''} for ${what}`);
    if (outcome.kind === 'dropped') session.reconnect();
  }
}

/** Milliseconds spent per RPC, to see where the time budget goes. */
const spent = new Map<string, number>();

async function send(method: FuzzMethod, body: Buffer, what: string): Promise<void> {
  const started = Date.now();
  const outcome = await session.call(method.path, body, { timeoutMs: CALL_TIMEOUT_MS, serverStream: method.serverStream });
  spent.set(method.name, (spent.get(method.name) ?? 0) + Date.now() - started);
  record(method, what, outcome);
}

let skipped = 0;

/**
 * Runs the cases `PARALLEL` at a time until `deadline`; generation happens up front, so the
 * seed fixes the inputs (and, on a machine fast enough to finish them, the whole run).
 */
async function runAll(cases: { method: FuzzMethod; body: Buffer; what: string }[], deadline: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    for (let c = cases[next++]; c; c = cases[next++]) {
      if (Date.now() > deadline) skipped++;
      else await send(c.method, c.body, c.what);
    }
  }));
}

function method(name: string): FuzzMethod {
  const m = methods.find((x) => x.name === name);
  assert.ok(m, `no RPC ${name} in the schema`);
  return m;
}

/** `count` cases per RPC: half entirely random, half a valid request (from `bases`) with random parts. */
function casesFor(names: string[], count: number): { method: FuzzMethod; body: Buffer; what: string }[] {
  return names.flatMap((name) => Array.from({ length: count }, (_, i) => {
    const base = i % 2 === 1 ? bases[name]?.() : undefined;
    return { method: method(name), ...randomMessage(method(name), rng, base) };
  }));
}

type Pod = { id: string; config: PodSandboxConfig };
let pods: Pod[] = [];
let running: string[] = [];
let created: string[] = [];
let seq = 0;

/** Valid requests, each naming real objects: the starting points of the mutated cases. */
const bases: Record<string, () => Record<string, unknown>> = {
  RunPodSandbox: () => ({ config: fx.podConfig({ log_directory: `${scratch}/logs/p${++seq}` }) }),
  CreateContainer: () => {
    const pod = rng.pick(pods);
    return { pod_sandbox_id: pod.id, sandbox_config: pod.config, config: { metadata: { name: `fz${++seq}` }, image: { image: fx.image('sleeper') }, command: ['sleep', '1000'], log_path: `fz${seq}.log` } };
  },
  StartContainer: () => ({ container_id: rng.pick(created.length > 0 ? created : knownIds) }),
  ExecSync: () => ({ container_id: rng.pick(running), cmd: ['echo', 'hi'], timeout: '5' }),
  UpdateContainerResources: () => ({ container_id: rng.pick(running), linux: { cpu_shares: '512', memory_limit_in_bytes: '104857600', cpu_period: '100000', cpu_quota: '50000' } }),
  ReopenContainerLog: () => ({ container_id: rng.pick(running) }),
  ContainerStatus: () => ({ container_id: rng.pick(knownIds), verbose: true }),
  PodSandboxStatus: () => ({ pod_sandbox_id: rng.pick(pods).id, verbose: true }),
  ContainerStats: () => ({ container_id: rng.pick(running) }),
  PodSandboxStats: () => ({ pod_sandbox_id: rng.pick(pods).id }),
  Exec: () => ({ container_id: rng.pick(running), cmd: ['sh'], stdout: true }),
  Attach: () => ({ container_id: rng.pick(running), stdout: true }),
  PortForward: () => ({ pod_sandbox_id: rng.pick(pods).id, port: [80] }),
  UpdatePodSandboxResources: () => ({ pod_sandbox_id: rng.pick(pods).id, resources: { cpu_shares: '512', memory_limit_in_bytes: '268435456' } }),
  StopContainer: () => ({ container_id: rng.pick(knownIds), timeout: '0' }),
  RemoveContainer: () => ({ container_id: rng.pick(knownIds) }),
  StopPodSandbox: () => ({ pod_sandbox_id: rng.pick(knownIds) }),
  RemovePodSandbox: () => ({ pod_sandbox_id: rng.pick(knownIds) }),
};

async function refreshKnownIds(): Promise<void> {
  const pods = (await fx.client.runtime('ListPodSandbox', {})).items ?? [];
  const containers = (await fx.client.runtime('ListContainers', {})).containers ?? [];
  knownIds = [...pods.map((p) => p.id!), ...containers.map((c) => c.id!)];
  created = containers.filter((c) => c.state === 'CONTAINER_CREATED').map((c) => c.id!);
}

before(async () => {
  fx = await ContainerFixture.start({ sleeper: { Cmd: ['sleep', '1000'] } }, {
    toml: ['[[registry]]', 'prefix = "docker.io"', `location = "${CLOSED_REGISTRY}"`].join('\n'),
  });
  scratch = join(fx.dirs.base, 'fuzz');
  mkdirSync(join(scratch, 'vol'), { recursive: true });
  mkdirSync(join(scratch, 'logs'), { recursive: true });
  writeFileSync(join(scratch, 'file'), 'a file to mount\n');
  writeFileSync(join(scratch, 'bad-profile.json'), '{"not": "a profile"');
  session = new RawGrpcSession(fx.dirs.socket);
  methods = criMethods(loadCriSchema());
  // Every image the guard can name stays on this machine: the closed port, the test's own
  // registry, docker.io (mapped to the closed port above) or no valid reference at all.
  const imageField = loadCriSchema().lookupType('runtime.v1.ImageSpec').fields.image!;
  const probe = new Rng(SEED);
  for (let i = 0; i < 500; i++) {
    const name = guard()('image', imageField, probe) as string;
    const domain = tryParseReference(name)?.domain;
    assert.ok(domain === undefined || [CLOSED_REGISTRY, fx.registry.host, 'docker.io'].includes(domain), `the fuzzer could pull ${JSON.stringify(name)} from ${domain}`);
  }
});

after(async () => {
  session?.close();
  await fx?.destroy();
});

describe(`the gRPC surface under fuzzing (seed ${SEED})`, () => {
  it('answers every RPC of both services, with random fields and with broken bodies, with a status that is not INTERNAL', { timeout: ROUND_TIMEOUT_MS }, async () => {
    const cases: { method: FuzzMethod; body: Buffer; what: string }[] = [];
    for (const m of methods) {
      const count = m.name === 'PullImage' ? 12 : 25;
      for (let i = 0; i < count; i++) cases.push({ method: m, ...randomMessage(m, rng) });
      for (const broken of brokenBodies(m.requestType, m.name, rng)) cases.push({ method: m, ...broken });
    }
    await runAll(cases, Date.now() + ROUND_BUDGET_MS);
    assert.deepEqual(findings, [], `${findings.length} findings:\n${findings.join('\n')}`);
  });

  it('answers the same for requests naming real pods and containers', { timeout: ROUND_TIMEOUT_MS }, async () => {
    await fx.client.image('PullImage', { image: { image: fx.image('sleeper') } });
    pods = [await fx.runPod(), await fx.runPod()];
    for (const pod of pods) {
      running.push(await fx.run(pod, 'sleeper'));
      await fx.create(pod, 'sleeper');
    }
    await refreshKnownIds();
    // The budget in shares, so the later steps (which need what the first made) get their turn.
    const share = (fraction: number) => Date.now() + ROUND_BUDGET_MS * fraction;
    await runAll(casesFor(['RunPodSandbox', 'CreateContainer'], 30), share(0.4));
    await refreshKnownIds();
    await runAll(casesFor(['StartContainer', 'ContainerStatus', 'PodSandboxStatus', 'ExecSync', 'UpdateContainerResources', 'ReopenContainerLog',
      'ContainerStats', 'PodSandboxStats', 'ListContainers', 'ListPodSandbox', 'ListContainerStats', 'ListPodSandboxStats', 'Exec', 'Attach', 'PortForward',
      'ListPodSandboxMetrics', 'GetContainerEvents', 'UpdatePodSandboxResources', 'StreamPodSandboxes', 'StreamContainers', 'StreamContainerStats',
      'StreamPodSandboxStats', 'StreamPodSandboxMetrics'], 12), share(0.4));
    await runAll(casesFor(['StopContainer', 'RemoveContainer', 'StopPodSandbox'], 10), share(0.1));
    await runAll(casesFor(['RemovePodSandbox'], 10), share(0.1));
    assert.deepEqual(findings, [], `${findings.length} findings:\n${findings.join('\n')}`);
  });

  it('keeps the connection and the daemon: Version answers afterwards on the same connection', async () => {
    assert.equal(session.lost, undefined, `the connection was lost: ${session.lost}`);
    assert.equal(fx.daemon.process.exitCode, null, `the daemon exited:\n${fx.daemon.stderr.slice(-2000)}`);
    const version = await fx.client.runtime('Version', {});
    assert.equal(version.runtime_name, 'runcri');
    const raw = await session.call(method('Version').path, grpcFrame(Buffer.alloc(0)), { timeoutMs: 5000 });
    assert.deepEqual(raw.kind === 'status' ? raw.grpcStatus : raw.kind, grpc.status.OK);
    console.log(`# ${calls} fuzzed calls (${skipped} left out by the time bound), seed ${SEED}: ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}`);
    console.log(`# most time (ms, summed over parallel calls): ${[...spent].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([m, ms]) => `${m} ${ms}`).join(', ')}`);
  });

  it('leaves nothing behind once what it made is removed', async () => {
    const pods = (await fx.client.runtime('ListPodSandbox', {})).items ?? [];
    const containers = (await fx.client.runtime('ListContainers', {})).containers ?? [];
    console.log(`# removing the ${pods.length} pods and ${containers.length} containers left after fuzzing; answered OK: ${[...succeeded].map(([m, n]) => `${m} ${n}`).join(', ')}`);
    for (const rpc of ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'ExecSync', 'UpdateContainerResources']) assert.ok((succeeded.get(rpc) ?? 0) > 0, `no fuzzed ${rpc} got past validation`);
    for (const p of pods) {
      await fx.client.runtime('StopPodSandbox', { pod_sandbox_id: p.id! });
      await fx.client.runtime('RemovePodSandbox', { pod_sandbox_id: p.id! });
    }
    assert.deepEqual((await fx.client.runtime('ListPodSandbox', {})).items, []);
    assert.deepEqual((await fx.client.runtime('ListContainers', {})).containers, []);
    assert.deepEqual(readdirSync(join(fx.dirs.state, 'ns')), [], 'pinned namespaces');
    assert.deepEqual(allocatedIps(fx.net), [], 'leased pod IPs');
    assert.deepEqual(mountsBelow(fx.dirs.base).filter((m) => m !== join(fx.dirs.state, 'ns')), [], 'mounts');
    for (const hierarchy of ['memory', 'pids', 'cpu']) {
      const dir = `/sys/fs/cgroup/${hierarchy}${fx.cgroupRoot}`;
      const left = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
      assert.deepEqual(left, [], `${hierarchy} cgroups below the test's parent`);
    }
    const monitors = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(fx.dirs.base) && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'conmon';
      } catch {
        return false;
      }
    });
    assert.deepEqual(monitors, [], 'conmon processes of the test');
  });
});
