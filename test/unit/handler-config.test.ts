import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromToml } from '../../lib/config/index.js';
import { requestMounts } from '../../lib/container/spec/mounts.js';
import type { Mount__Output } from '../../lib/generated/runtime/v1/Mount.js';

test('a [runtimes.NAME] table takes a monitor and an rro setting, with defaults', () => {
  const config = configFromToml('[runtimes.fast]\npath = "/usr/local/bin/fast"\nmonitor_path = "/opt/conmon"\nrecursive_read_only_mounts = "true"\n');
  assert.equal(config.runtimes.fast?.monitor_path, '/opt/conmon');
  assert.equal(config.runtimes.fast?.recursive_read_only_mounts, 'true');
  assert.equal(config.runtimes.runc?.monitor_path, '');
  assert.equal(config.runtimes.runc?.recursive_read_only_mounts, 'auto');
});

test('handler settings are checked, naming the key', () => {
  assert.throws(() => configFromToml('[runtimes.fast]\npath = "fast"\n'), /runtimes.fast.path/);
  assert.throws(() => configFromToml('[runtimes.fast]\npath = "/x"\nrecursive_read_only_mounts = "maybe"\n'), /runtimes.fast.recursive_read_only_mounts: must be one of auto, true, false/);
  assert.throws(() => configFromToml('[runtimes.fast]\npath = "/x"\nmonitor_path = "conmon"\n'), /runtimes.fast.monitor_path/);
  assert.throws(() => configFromToml('[runtime]\nidmap_mount_helper = "idmap"\n'), /runtime.idmap_mount_helper/);
});

function mount(p: Partial<Mount__Output>): Mount__Output {
  return { container_path: '/d', host_path: '/h', readonly: true, selinux_relabel: false, propagation: 'PROPAGATION_PRIVATE', uidMappings: [], gidMappings: [], recursive_read_only: false, image: null, image_sub_path: '', mount_options: [], ...p };
}

test('a recursive read-only mount is `rro` where the handler has it, refused where it has not', () => {
  const rro = mount({ recursive_read_only: true });
  assert.deepEqual(requestMounts([rro], true)[0]?.options, ['rbind', 'rprivate', 'rro']);
  assert.throws(() => requestMounts([rro], false), /not supported by this pod's runtime handler/);
  assert.deepEqual(requestMounts([mount({})], true)[0]?.options, ['rbind', 'rprivate', 'ro']);
  assert.throws(() => requestMounts([mount({ recursive_read_only: true, readonly: false })], true), /needs readonly/);
});
