import { test } from 'node:test';
import assert from 'node:assert/strict';
import { infraSpec } from '../../lib/sandbox/infra-spec.js';

const base = { podId: 'pod1', rootfs: '/rootfs', cgroupsPath: '/kubepods/pod1/runcri-pod1' };

test('the infra container joins the pod\'s pinned namespaces, shares the node\'s where the pod does, and makes the PID namespace', () => {
  const spec = infraSpec({ ...base, image: { Entrypoint: ['/pause'] }, namespaces: { network: '/ns/p-net', ipc: '/ns/p-ipc', uts: '/ns/p-uts' } });
  assert.deepEqual(spec.linux.namespaces, [
    { type: 'pid' }, { type: 'mount' },
    { type: 'network', path: '/ns/p-net' }, { type: 'ipc', path: '/ns/p-ipc' }, { type: 'uts', path: '/ns/p-uts' },
  ]);
  const hostNetwork = infraSpec({ ...base, image: { Entrypoint: ['/pause'] }, namespaces: { ipc: '/ns/p-ipc' } });
  assert.deepEqual(hostNetwork.linux.namespaces.map((n) => n.type), ['pid', 'mount', 'ipc']);
});

test('the infra container runs the image\'s command as its numeric user, read-only, without capabilities or devices', () => {
  const spec = infraSpec({ ...base, image: { Entrypoint: ['/pause'], Cmd: ['-v'], User: '65535:65534', Env: ['A=b'] }, namespaces: {} });
  assert.deepEqual(spec.process.args, ['/pause', '-v']);
  assert.deepEqual(spec.process.user, { uid: 65535, gid: 65534 });
  assert.deepEqual(spec.process.env, ['A=b']);
  assert.equal(spec.process.noNewPrivileges, true);
  assert.deepEqual(spec.process.capabilities.bounding, []);
  assert.equal(spec.root.readonly, true);
  assert.deepEqual(spec.linux.devices, []);
  assert.deepEqual(spec.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
  assert.equal(spec.linux.cgroupsPath, base.cgroupsPath);
  assert.equal(spec.annotations['io.kubernetes.cri.container-type'], 'sandbox');
  assert.deepEqual(infraSpec({ ...base, image: { Cmd: ['/pause'], User: '1000' }, namespaces: {} }).process.user, { uid: 1000, gid: 1000 });
});

test('an infra image without a command, or with a user by name, is refused', () => {
  assert.throws(() => infraSpec({ ...base, image: {}, namespaces: {} }), /names no command/);
  assert.throws(() => infraSpec({ ...base, image: { Cmd: ['/pause'], User: 'nobody' }, namespaces: {} }), /not numeric/);
});
