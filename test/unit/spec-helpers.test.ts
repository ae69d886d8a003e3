import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readFileInRoot, resolveInRoot } from '../../lib/container/rootfs-files.js';
import { capabilityNames, effectiveMask } from '../../lib/container/capabilities.js';
import { clampRlimits, daemonHardLimits, loadRuntimeDefaults } from '../../lib/container/defaults.js';
import { defaultConfig } from '../../lib/config/index.js';

test('files in the rootfs are read without following links out of it', () => {
  const root = mkdtempSync(join(tmpdir(), 'rootfs-'));
  const outside = mkdtempSync(join(tmpdir(), 'host-'));
  try {
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(outside, 'passwd'), 'host-secret');
    writeFileSync(join(root, 'etc', 'real-group'), 'g:x:1:');
    symlinkSync(join(outside, 'passwd'), join(root, 'etc', 'passwd'));
    symlinkSync('../../../../../etc/real-group', join(root, 'etc', 'group'));
    assert.equal(readFileInRoot(root, '/etc/passwd'), undefined, 'an absolute link resolves inside the root, where nothing is');
    assert.equal(resolveInRoot(root, '/etc/passwd'), join(root, outside, 'passwd'));
    assert.equal(readFileInRoot(root, '/etc/group'), 'g:x:1:', '.. stops at the root');
    symlinkSync('loop', join(root, 'loop'));
    assert.throws(() => resolveInRoot(root, '/loop'), /too many symbolic links/);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});

test('capability masks decode to OCI names', () => {
  assert.deepEqual(capabilityNames('0000000000000003'), ['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
  const names = capabilityNames('000001fffeffffff');
  assert.ok(!names.includes('CAP_SYS_RESOURCE'));
  assert.ok(names.includes('CAP_SYS_ADMIN'));
  assert.equal(names.length, 40);
  assert.equal(effectiveMask('CapInh:\t0\nCapEff:\t000001fffeffffff\n'), '000001fffeffffff');
});

test('default rlimits never exceed the daemon\'s own hard limits', () => {
  const hard = daemonHardLimits('Limit Soft Hard Units\nMax processes             96365                96365                processes\nMax open files            20000                20000                files\n');
  assert.deepEqual(hard, { RLIMIT_NPROC: 96365, RLIMIT_NOFILE: 20000 });
  assert.deepEqual(clampRlimits([{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }], hard), [{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }]);
});

test('runtime defaults load from bundles/: a strict seccomp allowlist and the configured capabilities', () => {
  const d = loadRuntimeDefaults(defaultConfig(), { restricted: false, own: 0 });
  assert.equal(d.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
  const allowed = new Set(d.seccomp.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names));
  for (const denied of ['unshare', 'mount', 'keyctl', 'ptrace', 'setns', 'bpf', 'init_module', 'reboot', 'umount2', 'add_key', 'pivot_root', 'clone3']) {
    assert.ok(!allowed.has(denied), `${denied} must not be allowed by default`);
  }
  assert.equal(d.capabilities.length, 14);
  assert.ok(d.capabilities.every((c) => c.startsWith('CAP_')));
  assert.ok(d.maskedPaths.includes('/proc/kcore'));
});
