import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../lib/errors/index.js';
import { SYSCTL_WRITE_LOOP, parseSysctlName, planSysctls, sysctlArguments } from '../../lib/sandbox/sysctl.js';

it('sorts sysctls by namespace, accepting slash-separated names, and refuses the rest', () => {
  const plan = planSysctls({ 'net.core.somaxconn': '1024', 'net/ipv4/conf/eth0.100/forwarding': '1', 'kernel.msgmax': '9', 'fs.mqueue.msg_max': '20', 'kernel.sem': '250 32000 32 128', 'kernel.domainname': 'example' }, 'POD', 'POD');
  assert.deepEqual(plan.writes, [
    { key: 'net.core.somaxconn', namespace: 'net', path: '/proc/sys/net/core/somaxconn', value: '1024' },
    { key: 'net.ipv4.conf.eth0/100.forwarding', namespace: 'net', path: '/proc/sys/net/ipv4/conf/eth0.100/forwarding', value: '1' },
    { key: 'kernel.msgmax', namespace: 'ipc', path: '/proc/sys/kernel/msgmax', value: '9' },
    { key: 'fs.mqueue.msg_max', namespace: 'ipc', path: '/proc/sys/fs/mqueue/msg_max', value: '20' },
    { key: 'kernel.sem', namespace: 'ipc', path: '/proc/sys/kernel/sem', value: '250 32000 32 128' },
    { key: 'kernel.domainname', namespace: 'uts', path: '/proc/sys/kernel/domainname', value: 'example' },
  ]);
  assert.deepEqual(Object.keys(plan.normalized), ['net.core.somaxconn', 'net.ipv4.conf.eth0/100.forwarding', 'kernel.msgmax', 'fs.mqueue.msg_max', 'kernel.sem', 'kernel.domainname']);
  assert.throws(() => planSysctls({ 'vm.swappiness': '1' }, 'POD', 'POD'), /not namespaced/);
  assert.throws(() => planSysctls({ 'kernel.core_pattern': '|/x' }, 'POD', 'POD'), /not namespaced/);
  assert.throws(() => planSysctls({ 'net.core.somaxconn': '1' }, 'NODE', 'POD'), /host network/);
  assert.throws(() => planSysctls({ 'kernel.hostname': 'x' }, 'NODE', 'POD'), /host UTS/);
  assert.throws(() => planSysctls({ 'kernel.shmmax': '1' }, 'POD', 'NODE'), /host IPC/);
  assert.throws(() => planSysctls({ 'net.core.somaxconn': '1\nkernel.x=1' }, 'POD', 'POD'), InvalidArgumentError);
  assert.throws(() => planSysctls({ 'net.core.somaxconn': '1', 'net/core/somaxconn': '2' }, 'POD', 'POD'), /given twice/);
});

it('refuses every name that could climb out of its directory, in either separator form', () => {
  const hostile = [
    'net/../kernel/core_pattern', 'net.//.kernel.core_pattern', 'net./../kernel.core_pattern', 'net.ipv4/../../kernel/core_pattern',
    'fs/mqueue/../../kernel/core_pattern', 'fs.mqueue.//..//kernel.core_pattern', 'kernel.shm/../core_pattern', 'kernel/shm..',
    'net/./core/somaxconn', 'net..core.somaxconn', '/net/core/somaxconn', 'net/core/somaxconn/', 'net.core.', '.net.core',
    'net/core//somaxconn', 'net.core.-x', 'net.core.x-', 'NET.core.somaxconn', 'net.core.some thing', 'net.core.x\0', 'net\\core', '',
    `net.${'a'.repeat(260)}`,
  ];
  for (const name of hostile) {
    assert.throws(() => planSysctls({ [name]: '1' }, 'POD', 'POD'), InvalidArgumentError, `accepted ${JSON.stringify(name)}`);
  }
});

it('gives both forms of a name: dot form with "/" inside segments, and the file below /proc/sys', () => {
  assert.deepEqual(parseSysctlName('net.ipv4.ip_forward'), { key: 'net.ipv4.ip_forward', path: '/proc/sys/net/ipv4/ip_forward' });
  assert.deepEqual(parseSysctlName('net/ipv4/ip_forward'), { key: 'net.ipv4.ip_forward', path: '/proc/sys/net/ipv4/ip_forward' });
  assert.deepEqual(parseSysctlName('net/ipv4/conf/eth0.100/forwarding'), { key: 'net.ipv4.conf.eth0/100.forwarding', path: '/proc/sys/net/ipv4/conf/eth0.100/forwarding' });
});

it('the writer refuses a file that resolves anywhere but itself, and writes nothing', () => {
  const dir = mkdtempSync('/tmp/rct-sysctl-');
  try {
    const target = join(dir, 'target');
    writeFileSync(target, 'untouched\n');
    // Lexically below /proc/sys, really a file of ours: the resolution check must stop it.
    const climbing = `/proc/sys/net/../../..${target}`;
    const r = spawnSync('sh', ['-c', SYSCTL_WRITE_LOOP, 'test', ...sysctlArguments([{ key: 'net.x', namespace: 'net', path: climbing, value: 'written' }])], { encoding: 'utf8' });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /resolves to/);
    assert.equal(readFileSync(target, 'utf8'), 'untouched\n');
    const missing = spawnSync('sh', ['-c', SYSCTL_WRITE_LOOP, 'test', 'net.core.nothing_here', '/proc/sys/net/core/nothing_here', '1'], { encoding: 'utf8' });
    assert.equal(missing.status, 4);
    assert.match(missing.stderr, /sysctl net\.core\.nothing_here does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
