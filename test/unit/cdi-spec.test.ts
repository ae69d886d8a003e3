import test from 'node:test';
import assert from 'node:assert/strict';
import { CdiSpecError, decodeSpec, isQualifiedName, parseQualifiedName, parseSpecFile } from '../../lib/cdi/index.js';

const JSON_SPEC = {
  cdiVersion: '0.6.0',
  kind: 'example.com/device',
  annotations: { owner: 'tests' },
  devices: [
    { name: 'null0', containerEdits: { deviceNodes: [{ path: '/dev/example-null', hostPath: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 438, permissions: 'rw' }] } },
    { name: '1', containerEdits: { env: ['ONE=1'] } },
  ],
  containerEdits: {
    env: ['EXAMPLE=yes'],
    mounts: [{ hostPath: '/srv', containerPath: '/example', options: ['ro', 'bind'], type: 'bind' }],
    hooks: [{ hookName: 'createContainer', path: '/bin/true', args: ['true'], timeout: 3 }],
  },
};

const YAML_SPEC = `cdiVersion: "0.6.0"
kind: example.com/device
annotations:
  owner: tests
devices:
- name: null0
  containerEdits:
    deviceNodes:
    - path: /dev/example-null
      hostPath: /dev/null
      type: c
      major: 1
      minor: 3
      fileMode: 0666
      permissions: rw
- name: 1
  containerEdits:
    env: [ONE=1]
containerEdits:
  env:
  - EXAMPLE=yes
  mounts:
  - hostPath: /srv
    containerPath: /example
    options: [ro, bind]
    type: bind
  hooks:
  - hookName: createContainer
    path: /bin/true
    args: ["true"]
    timeout: 3
`;

test('a spec reads the same from JSON and from YAML; a YAML 0666 is the octal mode, an unquoted 1 the name "1"', () => {
  const fromJson = parseSpecFile(JSON.stringify(JSON_SPEC), '/etc/cdi/example.json');
  const fromYaml = parseSpecFile(YAML_SPEC, '/etc/cdi/example.yaml');
  assert.deepEqual(fromYaml, fromJson);
  assert.equal(fromJson.vendor, 'example.com');
  assert.equal(fromJson.class, 'device');
  assert.equal(fromJson.devices[0]!.containerEdits.deviceNodes[0]!.fileMode, 0o666);
  assert.equal(fromJson.devices[1]!.name, '1');
});

function refused(spec: unknown, pattern: RegExp): void {
  assert.throws(() => decodeSpec(spec), (err: unknown) => err instanceof CdiSpecError && pattern.test(err.message), JSON.stringify(spec));
}

const device = { name: 'd', containerEdits: { env: ['A=1'] } };

test('cdiVersion must be a released version no older than the features the spec uses', () => {
  refused({ cdiVersion: '0.9.0', kind: 'a.com/b', devices: [device] }, /not a released CDI version/);
  refused({ kind: 'a.com/b', devices: [device] }, /cdiVersion: expected a string/);
  refused({ cdiVersion: '0.5.0', kind: 'a.com/b', annotations: { x: 'y' }, devices: [device] }, /features of CDI 0\.6\.0/);
  refused({ cdiVersion: '0.5.0', kind: 'a.com/b.c', devices: [device] }, /features of CDI 0\.6\.0/);
  refused({ cdiVersion: '0.4.0', kind: 'a.com/b', devices: [{ name: '0', containerEdits: { env: ['A=1'] } }] }, /features of CDI 0\.5\.0/);
  refused({ cdiVersion: '0.4.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { deviceNodes: [{ path: '/dev/x', hostPath: '/dev/y' }] } }] }, /features of CDI 0\.5\.0/);
  refused({ cdiVersion: '0.3.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { mounts: [{ hostPath: '/a', containerPath: '/b', type: 'bind' }] } }] }, /features of CDI 0\.4\.0/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { additionalGids: [5] } }] }, /features of CDI 0\.7\.0/);
  refused({ cdiVersion: '1.0.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { netDevices: [{ hostInterfaceName: 'eth1', name: 'net1' }] } }] }, /features of CDI 1\.1\.0/);
  assert.equal(decodeSpec({ cdiVersion: 'v0.3.0', kind: 'a.com/b', devices: [device] }).cdiVersion, '0.3.0');
  assert.equal(decodeSpec({ cdiVersion: '1.1.0', kind: 'a.com/b', devices: [device] }).devices.length, 1);
});

test('kind, device names and edits are checked as CDI defines them', () => {
  for (const kind of ['foo', 'vendor.com/foo/', 'vendor.com/foo/bar', '1vendor.com/foo', 'vendor.com/-foo', `vendor.com/${'c'.repeat(64)}`]) {
    refused({ cdiVersion: '0.6.0', kind, devices: [device] }, /kind/);
  }
  for (const name of ['', '-x', 'x-', 'a/b', 'a=b']) refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ ...device, name }] }, /name/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [] }, /at least one device/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [device, device] }, /defined twice/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: {} }] }, /has no edits/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { env: ['NOEQUALS'] } }] }, /NAME=VALUE/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { deviceNodes: [{ path: '/dev/x', type: 'x' }] } }] }, /type/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { deviceNodes: [{ path: '/dev/x', major: -1 }] } }] }, /major/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { deviceNodes: [{ path: '/dev/x', permissions: 'rwx' }] } }] }, /permissions/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { hooks: [{ hookName: 'prestop', path: '/bin/x' }] } }] }, /hookName/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { hooks: [{ hookName: 'poststop', path: 'relative' }] } }] }, /absolute/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { hooks: [{ hookName: 'poststop', path: '/x', timeout: 0 }] } }] }, /timeout/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { mounts: [{ hostPath: '/a' }] } }] }, /containerPath/);
});

test('unknown fields are refused; field names match case-insensitively as the reference decoder does', () => {
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [device], extra: 1 }, /unknown field "extra"/);
  refused({ cdiVersion: '0.6.0', kind: 'a.com/b', devices: [{ ...device, containerEdits: { env: ['A=1'], devices: [] } }] }, /unknown field "devices"/);
  const spec = decodeSpec({ cdiVersion: '0.7.0', Kind: 'a.com/b', devices: [{ name: 'd', containerEdits: { additionalGIDs: [5] } }] });
  assert.deepEqual(spec.devices[0]!.containerEdits.additionalGids, [5]);
});

test('qualified device names are vendor/class=name', () => {
  assert.ok(isQualifiedName('nvidia.com/gpu=0'));
  assert.ok(isQualifiedName('example.com/device=dev:0.a_b-c'));
  for (const bad of ['gpu0', '/dev/null', 'nvidia.com/gpu', 'nvidia.com=0', 'nvidia.com/gpu=', 'nvidia.com/gpu=-0', '/gpu=0']) assert.ok(!isQualifiedName(bad), bad);
  assert.deepEqual(parseQualifiedName('vendor.com/class=dev'), { vendor: 'vendor.com', class: 'class', name: 'dev' });
});
