import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerStatsSource, type ContainerRecordView } from '../../lib/stats/index.js';
import { parseProcCgroup } from '../../lib/stats/container-source.js';

const V1 = '12:pids:/kubepods/pod1/runcri-abc\n5:cpu:/kubepods/pod1/runcri-abc\n4:memory:/kubepods/pod1/runcri-abc\n1:name=systemd:/\n0::/\n';
const V2 = '0::/kubepods.slice/kubepods-pod1.slice/runcri-abc.scope\n';

describe('container cgroup from /proc/PID/cgroup', () => {
  it('takes the memory hierarchy on v1 and the unified line on v2', () => {
    assert.equal(parseProcCgroup(V1, 1), '/kubepods/pod1/runcri-abc');
    assert.equal(parseProcCgroup(V2, 2), '/kubepods.slice/kubepods-pod1.slice/runcri-abc.scope');
    assert.equal(parseProcCgroup('garbage', 2), undefined);
  });

  it('reads it once per (container, PID), and not at all for an exited container', () => {
    const rec: ContainerRecordView = { id: 'abc', podId: 'p', metadata: { name: 'n', attempt: 0 }, labels: {}, annotations: {}, state: 'CONTAINER_RUNNING', image: 'i', pid: 42 };
    const reads: string[] = [];
    const source = containerStatsSource({ get: () => rec, list: () => [rec] }, (id) => `/upper/${id}`, 1, (p) => { reads.push(p); return V1; });
    assert.equal(source.get('abc').cgroupPath, '/kubepods/pod1/runcri-abc');
    assert.equal(source.list()[0]!.upperDir, '/upper/abc');
    assert.deepEqual(reads, ['/proc/42/cgroup']);
    rec.state = 'CONTAINER_EXITED';
    assert.equal(source.get('abc').cgroupPath, '');
    assert.equal(reads.length, 1);
  });

  it('leaves the cgroup empty when the process is already gone', () => {
    const rec: ContainerRecordView = { id: 'x', podId: 'p', metadata: { name: 'n', attempt: 0 }, labels: {}, annotations: {}, state: 'CONTAINER_CREATED', image: 'i', pid: 7 };
    const source = containerStatsSource({ get: () => rec, list: () => [rec] }, () => '', 2, () => { throw new Error('ENOENT'); });
    assert.equal(source.get('x').cgroupPath, '');
  });
});
