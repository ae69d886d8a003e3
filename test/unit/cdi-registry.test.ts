import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CdiRegistry, cdiRequestOf, resolveCdiDevices } from '../../lib/cdi/index.js';
import { isRuntimeError } from '../../lib/errors/index.js';
import type { ContainerConfig__Output } from '../../lib/generated/runtime/v1/ContainerConfig.js';

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function dirs(): { etc: string; run: string } {
  const root = mkdtempSync(join(tmpdir(), 'rct-cdi-'));
  roots.push(root);
  const etc = join(root, 'etc');
  const run = join(root, 'run');
  mkdirSync(etc);
  mkdirSync(run);
  return { etc, run };
}

function spec(kind: string, devices: Record<string, object>, edits?: object): string {
  return JSON.stringify({ cdiVersion: '0.6.0', kind, devices: Object.entries(devices).map(([name, containerEdits]) => ({ name, containerEdits })), ...(edits ? { containerEdits: edits } : {}) });
}

function invalidArgument(pattern: RegExp) {
  return (err: unknown) => isRuntimeError(err) && err.kind === 'invalid_argument' && pattern.test(err.message);
}

test('spec-level edits come once per spec, before its devices\' own, in request order; /dev/null fills in a node the spec leaves open', () => {
  const { etc, run } = dirs();
  writeFileSync(join(etc, 'a.json'), spec('example.com/dev', { x: { env: ['X=1'] }, y: { env: ['Y=1'], deviceNodes: [{ path: '/dev/ex-null', hostPath: '/dev/null' }] } }, { env: ['SPEC=a'] }));
  writeFileSync(join(etc, 'b.yaml'), 'cdiVersion: 0.6.0\nkind: example.com/other\ndevices:\n- name: z\n  containerEdits:\n    env: [Z=1]\ncontainerEdits:\n  env: [SPEC=b]\n');
  const edits = resolveCdiDevices(new CdiRegistry([etc, run]), ['example.com/dev=y', 'example.com/other=z', 'example.com/dev=x']);
  assert.deepEqual(edits.devices, ['example.com/dev=y', 'example.com/other=z', 'example.com/dev=x']);
  assert.deepEqual(edits.env, ['SPEC=a', 'Y=1', 'SPEC=b', 'Z=1', 'X=1']);
  assert.deepEqual(edits.deviceNodes, [{ path: '/dev/ex-null', hostPath: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, access: 'rwm' }]);
  assert.deepEqual(resolveCdiDevices(new CdiRegistry([etc]), []).devices, [], 'no request reads nothing');
});

test('an unknown device is INVALID_ARGUMENT naming it, and naming spec files that could not be loaded', () => {
  const { etc, run } = dirs();
  writeFileSync(join(etc, 'a.json'), spec('example.com/dev', { x: { env: ['X=1'] } }));
  writeFileSync(join(etc, 'broken.yaml'), 'cdiVersion: 0.6.0\nkind: example.com/gpu\ndevices: []\n');
  writeFileSync(join(etc, 'ignored.txt'), 'not a spec');
  const registry = new CdiRegistry([etc, run]);
  assert.throws(() => resolveCdiDevices(registry, ['example.com/dev=x', 'example.com/gpu=0']), invalidArgument(/unresolvable CDI device example\.com\/gpu=0; CDI spec files that could not be loaded: .*broken\.yaml: devices: a spec must define at least one device/));
  assert.equal(registry.view().errors.size, 1, 'only .json and .yaml files are specs');
});

test('a later directory overrides an earlier one; the same device twice in one directory is a conflict', () => {
  const { etc, run } = dirs();
  writeFileSync(join(etc, 'a.json'), spec('example.com/dev', { x: { env: ['FROM=etc'] }, y: { env: ['Y=etc'] } }));
  writeFileSync(join(run, 'a.json'), spec('example.com/dev', { x: { env: ['FROM=run'] } }));
  writeFileSync(join(run, 'b.json'), spec('example.com/dev', { y: { env: ['Y=run1'] } }));
  writeFileSync(join(run, 'c.json'), spec('example.com/dev', { y: { env: ['Y=run2'] } }));
  const registry = new CdiRegistry([etc, run]);
  assert.deepEqual(resolveCdiDevices(registry, ['example.com/dev=x']).env, ['FROM=run']);
  assert.throws(() => resolveCdiDevices(registry, ['example.com/dev=y']), invalidArgument(/example\.com\/dev=y \(defined by more than one spec of the same directory: .*b\.json, .*c\.json\)/));
});

test('a spec file changed on disk is read again; a removed one no longer defines anything', () => {
  const { etc } = dirs();
  const path = join(etc, 'a.json');
  writeFileSync(path, spec('example.com/dev', { x: { env: ['V=1'] } }));
  const registry = new CdiRegistry([etc]);
  assert.deepEqual(resolveCdiDevices(registry, ['example.com/dev=x']).env, ['V=1']);
  writeFileSync(path, spec('example.com/dev', { x: { env: ['V=22'] } }));
  utimesSync(path, new Date(), new Date(Date.now() + 5000));
  assert.deepEqual(resolveCdiDevices(registry, ['example.com/dev=x']).env, ['V=22']);
  rmSync(path);
  assert.throws(() => resolveCdiDevices(registry, ['example.com/dev=x']), invalidArgument(/unresolvable/));
});

test('what the host must have is checked when the container is made: device nodes and bind mount sources', () => {
  const { etc } = dirs();
  writeFileSync(join(etc, 'a.json'), spec('example.com/dev', {
    gone: { deviceNodes: [{ path: '/dev/ex', hostPath: '/dev/no-such-device' }] },
    file: { deviceNodes: [{ path: '/dev/ex', hostPath: '/etc/hostname' }] },
    wrongtype: { deviceNodes: [{ path: '/dev/ex', hostPath: '/dev/null', type: 'b' }] },
    nomount: { mounts: [{ hostPath: '/no/such/dir', containerPath: '/x' }] },
    rdt: { intelRdt: { closID: 'x' } },
  }).replace('"0.6.0"', '"0.7.0"'));
  const registry = new CdiRegistry([etc]);
  assert.throws(() => resolveCdiDevices(registry, ['example.com/dev=gone']), invalidArgument(/example\.com\/dev=gone: device node \/dev\/no-such-device does not exist/));
  assert.throws(() => resolveCdiDevices(registry, ['example.com/dev=file']), invalidArgument(/is not a device node/));
  assert.throws(() => resolveCdiDevices(registry, ['example.com/dev=wrongtype']), invalidArgument(/of type c, the spec says b/));
  assert.throws(() => resolveCdiDevices(registry, ['example.com/dev=nomount']), invalidArgument(/mount source \/no\/such\/dir does not exist/));
  assert.throws(() => resolveCdiDevices(registry, ['example.com/dev=rdt']), invalidArgument(/intelRdt/));
});

function config(p: Partial<ContainerConfig__Output>): ContainerConfig__Output {
  return { CDI_devices: [], annotations: {}, devices: [], ...p } as ContainerConfig__Output;
}

test('CDI devices are asked for through CDI_devices, cdi.k8s.io annotations and devices named by qualified name, each once', () => {
  const request = cdiRequestOf(config({
    CDI_devices: [{ name: 'vendor.com/gpu=0' }],
    annotations: { 'cdi.k8s.io/plugin_b': 'vendor.com/gpu=2', 'cdi.k8s.io/plugin_a': 'vendor.com/gpu=1, vendor.com/gpu=0', 'other/x': 'not-cdi' },
    devices: [{ host_path: 'vendor.com/nic=eth', container_path: '', permissions: '' }, { host_path: '/dev/fuse', container_path: '/dev/fuse', permissions: 'rw' }],
  }));
  assert.deepEqual(request.names, ['vendor.com/gpu=0', 'vendor.com/gpu=1', 'vendor.com/gpu=2', 'vendor.com/nic=eth']);
  assert.deepEqual(request.hostDevices.map((d) => d.host_path), ['/dev/fuse']);
  assert.throws(() => cdiRequestOf(config({ CDI_devices: [{ name: 'gpu0' }] })), invalidArgument(/CDI_devices: "gpu0" is not a fully qualified CDI device name/));
  assert.throws(() => cdiRequestOf(config({ annotations: { 'cdi.k8s.io/p': 'vendor.com/gpu' } })), invalidArgument(/annotation cdi\.k8s\.io\/p/));
});
