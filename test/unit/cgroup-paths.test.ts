import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ancestorsOf, expandSlice, podCgroupPath } from '../../lib/cgroups/index.js';
import { InvalidArgumentError } from '../../lib/errors/index.js';

it('expands systemd slice names into their nested directories', () => {
  assert.equal(expandSlice('kubepods-burstable-pod123.slice'), '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice');
  assert.equal(expandSlice('test.slice'), '/test.slice');
  assert.equal(expandSlice('-.slice'), '/');
  for (const bad of ['kubepods', 'a--b.slice', '-a.slice', 'a-.slice', 'a/b.slice', '.slice']) {
    assert.throws(() => expandSlice(bad), InvalidArgumentError, bad);
  }
});

it('gives the systemd driver a slice name and its directory', () => {
  assert.deepEqual(podCgroupPath('systemd', 'kubepods-besteffort-podabc.slice', 'id1'), { parent: 'kubepods-besteffort-podabc.slice', path: '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podabc.slice' });
  assert.deepEqual(podCgroupPath('systemd', '', 'id1'), { parent: 'runcri-podid1.slice', path: '/runcri.slice/runcri-podid1.slice' });
  assert.throws(() => podCgroupPath('systemd', '/kubepods/burstable', 'id1'), InvalidArgumentError);
});

it('translates a slice-form parent for the cgroupfs driver instead of refusing it', () => {
  assert.equal(podCgroupPath('cgroupfs', 'kubepods-burstable-pod1.slice', 'x').path, '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice');
  assert.equal(podCgroupPath('cgroupfs', '/test.slice', 'x').path, '/test.slice');
  assert.equal(podCgroupPath('cgroupfs', '/kubepods/burstable/pod1/', 'x').path, '/kubepods/burstable/pod1');
  assert.equal(podCgroupPath('cgroupfs', 'kubepods/pod1', 'x').path, '/kubepods/pod1');
  assert.equal(podCgroupPath('cgroupfs', '', 'abc').path, '/runcri/podabc');
});

it('refuses the cgroup root as a parent and keeps dot-dot inside the root', () => {
  assert.throws(() => podCgroupPath('cgroupfs', '/', 'x'), InvalidArgumentError);
  assert.equal(podCgroupPath('cgroupfs', '/a/../b', 'x').path, '/b');
  assert.equal(podCgroupPath('cgroupfs', '../../etc', 'x').path, '/etc', 'clamped at the root, as cgroupfs paths are');
});

it('lists a path and its ancestors shallowest first', () => {
  assert.deepEqual(ancestorsOf('/a/b/c'), ['/a', '/a/b', '/a/b/c']);
});
