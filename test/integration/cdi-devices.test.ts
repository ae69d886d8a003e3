import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { expectCode } from '../helpers/cri-client.js';

let fx: ContainerFixture;
let cdiRoot: string;
let hookMarker: string;

/**
 * The test's own CDI specs: a JSON one in the static directory (a device that is /dev/null
 * under another name, with a variable, a read-only mount of a directory of the test's, a
 * supplementary group and a createRuntime hook), and a YAML one in the dynamic directory.
 */
before(async () => {
  cdiRoot = mkdtempSync('/tmp/rct-cdi-');
  const etc = join(cdiRoot, 'etc');
  const run = join(cdiRoot, 'run');
  const data = join(cdiRoot, 'data');
  hookMarker = join(cdiRoot, 'hook-state.json');
  for (const d of [etc, run, data]) mkdirSync(d);
  writeFileSync(join(data, 'hello'), 'hello from the host\n');
  writeFileSync(join(etc, 'runcri-test.json'), JSON.stringify({
    cdiVersion: '0.7.0',
    kind: 'runcri.test/device',
    devices: [
      { name: 'null', containerEdits: { deviceNodes: [{ path: '/dev/cdi-null', hostPath: '/dev/null', permissions: 'rw' }], env: ['CDI_DEVICE=null'] } },
      { name: 'data', containerEdits: { mounts: [{ hostPath: data, containerPath: '/cdi-data', options: ['ro', 'nosuid', 'nodev', 'bind'] }] } },
    ],
    containerEdits: {
      env: ['CDI_SPEC=runcri-test'],
      additionalGids: [4242],
      hooks: [{ hookName: 'createRuntime', path: '/bin/sh', args: ['sh', '-c', `cat > ${hookMarker}`], env: ['PATH=/usr/bin:/bin'], timeout: 10 }],
    },
  }));
  writeFileSync(join(run, 'runcri-test.yaml'), [
    'cdiVersion: 0.6.0',
    'kind: runcri.test/yaml',
    'devices:',
    '- name: zero0',
    '  containerEdits:',
    '    deviceNodes:',
    '    - path: /dev/cdi-zero',
    '      hostPath: /dev/zero',
    '      type: c',
    '      major: 1',
    '      minor: 5',
    '      permissions: r',
    '    env: ["CDI_YAML=zero0"]',
    '',
  ].join('\n'));
  fx = await ContainerFixture.start({ busybox: { Cmd: ['/bin/sh'] } }, { toml: `[runtime]\ncdi_spec_dirs = ["${etc}", "${run}"]\n` });
});

after(async () => {
  await fx?.destroy();
  if (cdiRoot) rmSync(cdiRoot, { recursive: true, force: true });
});

async function sh(id: string, script: string) {
  return fx.exec(id, ['/bin/sh', '-c', script]);
}

it('a container gets the device nodes, mounts, variables, groups and hooks of the CDI devices it asks for', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'busybox', {
    command: ['/bin/sleep', '1000'],
    CDI_devices: [{ name: 'runcri.test/device=null' }, { name: 'runcri.test/device=data' }],
    annotations: { 'cdi.k8s.io/test-plugin_zero0': 'runcri.test/yaml=zero0' },
  });
  assert.equal((await sh(id, 'test -c /dev/cdi-null && echo written > /dev/cdi-null && echo ok')).stdout, 'ok\n', 'the node is there and writable');
  assert.equal((await sh(id, 'head -c 4 /dev/cdi-zero | wc -c')).stdout.trim(), '4', 'the YAML spec\'s node is readable');
  // /dev/zero is among the devices every container may use; the spec's own rule is in its config
  const verbose = await fx.client.runtime('ContainerStatus', { container_id: id, verbose: true });
  const spec = JSON.parse(verbose.info!.info!) as { runtimeSpec: { linux: { resources: { devices: object[] } } } };
  assert.deepEqual(spec.runtimeSpec.linux.resources.devices.slice(-2), [
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
  ]);
  assert.equal((await sh(id, 'cat /cdi-data/hello')).stdout, 'hello from the host\n');
  assert.notEqual((await sh(id, 'touch /cdi-data/new')).exitCode, 0, 'the mount is read-only');
  const env = (await fx.exec(id, ['/bin/env'])).stdout.split('\n');
  for (const v of ['CDI_DEVICE=null', 'CDI_SPEC=runcri-test', 'CDI_YAML=zero0']) assert.ok(env.includes(v), `${v} in ${env.join(' ')}`);
  assert.equal(env.filter((e) => e.startsWith('CDI_SPEC=')).length, 1, 'spec-level edits apply once');
  assert.ok((await fx.exec(id, ['/bin/id', '-G'])).stdout.trim().split(' ').includes('4242'));
  const state = JSON.parse(readFileSync(hookMarker, 'utf8')) as { id: string };
  assert.equal(state.id, id, 'the createRuntime hook ran with the container\'s state');
  await fx.removePod(pod.id);
});

it('a device entry named by a qualified CDI name is a CDI device too', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sleep', '1000'], devices: [{ host_path: 'runcri.test/device=null', container_path: '', permissions: '' }] });
  assert.equal((await sh(id, 'test -c /dev/cdi-null && echo $CDI_DEVICE')).stdout, 'null\n');
  await fx.removePod(pod.id);
});

it('an unknown CDI device is INVALID_ARGUMENT naming it, and leaves nothing behind', { timeout: 60_000 }, async () => {
  const pod = await fx.runPod();
  const before = (await fx.client.runtime('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers!.length;
  const err = await expectCode(fx.create(pod, 'busybox', { command: ['/bin/true'], CDI_devices: [{ name: 'runcri.test/device=null' }, { name: 'runcri.test/device=missing' }] }), grpc.status.INVALID_ARGUMENT);
  assert.match(err.details, /unresolvable CDI device runcri\.test\/device=missing/);
  assert.doesNotMatch(err.details, /device=null/, 'only the unknown device is named');
  const bad = await expectCode(fx.create(pod, 'busybox', { command: ['/bin/true'], annotations: { 'cdi.k8s.io/x': 'not-qualified' } }), grpc.status.INVALID_ARGUMENT);
  assert.match(bad.details, /annotation cdi\.k8s\.io\/x: "not-qualified" is not a fully qualified CDI device name/);
  assert.equal((await fx.client.runtime('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers!.length, before);
  // the same name can be created once the request is right
  const ok = await fx.create(pod, 'busybox', { metadata: { name: 'retry' }, command: ['/bin/true'], CDI_devices: [{ name: 'runcri.test/device=null' }] });
  assert.ok(ok);
  await fx.removePod(pod.id);
});

it('verbose Status lists the CDI devices containers can ask for; the features advertised are only those that work', async () => {
  const status = await fx.client.runtime('Status', { verbose: true });
  const cdi = JSON.parse(status.info!.cdi!) as { spec_dirs: string[]; devices: string[]; spec_errors: Record<string, string> };
  assert.deepEqual(cdi.spec_dirs, [join(cdiRoot, 'etc'), join(cdiRoot, 'run')]);
  assert.deepEqual(cdi.devices.filter((d) => !d.startsWith('runcri.test/late')), ['runcri.test/device=data', 'runcri.test/device=null', 'runcri.test/yaml=zero0']);
  assert.deepEqual(cdi.spec_errors, {});
  assert.deepEqual(status.features, { supplemental_groups_policy: true, user_namespaces_host_network: false, mount_options: false });
});

it('a spec written while the daemon runs is seen by the next create', { timeout: 60_000 }, async () => {
  writeFileSync(join(cdiRoot, 'run', 'late.json'), JSON.stringify({ cdiVersion: '0.5.0', kind: 'runcri.test/late', devices: [{ name: 'dev', containerEdits: { env: ['LATE=1'] } }] }));
  const pod = await fx.runPod();
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sleep', '1000'], CDI_devices: [{ name: 'runcri.test/late=dev' }] });
  assert.equal((await sh(id, 'echo $LATE')).stdout, '1\n');
  await fx.removePod(pod.id);
  assert.ok(existsSync(hookMarker));
});
