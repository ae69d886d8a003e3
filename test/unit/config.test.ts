import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { configFromToml, configToToml, defaultConfig, ConfigError, clampOomScoreAdj } from '../../lib/config/index.js';

test('an empty config file yields every built-in default', () => {
  const config = configFromToml('');
  const defaults = defaultConfig();
  assert.equal(config.socket, '/run/runcri/runcri.sock');
  assert.equal(config.root, '/var/lib/runcri');
  assert.equal(config.state_dir, '/run/runcri');
  assert.equal(config.cgroup_driver, 'cgroupfs');
  assert.equal(config.max_message_bytes, 16 * 1024 * 1024);
  assert.deepEqual(config.network.bin_dirs, ['/opt/cni/bin', '/usr/lib/cni']);
  assert.equal(config.network.cache_dir, '/var/lib/runcri/cni-cache');
  assert.deepEqual(config.runtime.default_capabilities, defaults.runtime.default_capabilities);
  assert.equal(config.runtimes.runc?.root, '/run/runcri/runc');
});

test('file settings override defaults and derived paths follow the root', () => {
  const config = configFromToml(`
root = "/srv/runcri"
state_dir = "/run/other"
log_level = "debug"
[network]
conf_dir = "/tmp/cni"
[image]
max_concurrent_downloads = 5
`);
  assert.equal(config.root, '/srv/runcri');
  assert.equal(config.network.cache_dir, '/srv/runcri/cni-cache');
  assert.equal(config.runtimes.runc?.root, '/run/other/runc');
  assert.equal(config.network.conf_dir, '/tmp/cni');
  assert.equal(config.image.max_concurrent_downloads, 5);
  assert.equal(config.log_level, 'debug');
});

test('flag overrides win over the file', () => {
  const config = configFromToml('root = "/srv/a"\n[network]\nconf_dir = "/a"', { root: '/srv/b', 'network.conf_dir': '/b' });
  assert.equal(config.root, '/srv/b');
  assert.equal(config.network.conf_dir, '/b');
});

test('an unknown key is refused with its dotted name', () => {
  assert.throws(() => configFromToml('[network]\nconfdir = "/x"'), (err: unknown) => err instanceof ConfigError && err.key === 'network.confdir' && /unknown setting/.test(err.message));
  assert.throws(() => configFromToml('sockett = "/x"'), /sockett: unknown setting/);
});

test('values of the wrong type or outside their range are refused with the reason', () => {
  assert.throws(() => configFromToml('max_message_bytes = "big"'), /max_message_bytes: expected a number, got string/);
  assert.throws(() => configFromToml('cgroup_driver = "cgroupv3"'), /cgroup_driver: must be one of cgroupfs, systemd/);
  assert.throws(() => configFromToml('root = "relative/path"'), /root: must be an absolute path/);
  assert.throws(() => configFromToml('[image]\nmax_concurrent_downloads = 0'), /image.max_concurrent_downloads: must be a positive integer/);
  assert.throws(() => configFromToml('log_level = "chatty"'), /log_level: must be one of/);
  assert.throws(() => configFromToml('[runtime]\ndefault_handler = "kata"'), /runtime.default_handler: no handler "kata"/);
  assert.throws(() => configFromToml('this is not toml'), ConfigError);
});

test('runtime handlers are added by name, with their root derived from the state dir', () => {
  const config = configFromToml('[runtimes.fast]\npath = "/usr/local/bin/fast"\n');
  assert.equal(config.runtimes.fast?.path, '/usr/local/bin/fast');
  assert.equal(config.runtimes.fast?.root, '/run/runcri/fast');
  assert.ok(config.runtimes.runc, 'the built-in runc handler stays');
  assert.throws(() => configFromToml('[runtimes.bad]\nroot = "/x"\n'), /runtimes.bad.path: required/);
});

test('registries in the registries.conf v2 shape, inline or from a file', () => {
  const inline = configFromToml(`
[[registry]]
prefix = "registry.k8s.io"
location = "registry.k8s.io"
[[registry.mirror]]
location = "127.0.0.1:5000"
insecure = true
`);
  assert.deepEqual(inline.image.registries, [
    { prefix: 'registry.k8s.io', location: 'registry.k8s.io', insecure: false, blocked: false, mirrors: [{ location: '127.0.0.1:5000', insecure: true }] },
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'runcri-config-'));
  try {
    const file = join(dir, 'registries.conf');
    writeFileSync(file, 'unqualified-search-registries = ["docker.io"]\n[[registry]]\nlocation = "localhost:5000"\ninsecure = true\n');
    const fromFile = configFromToml(`[image]\nregistries_conf = "${file}"`);
    assert.equal(fromFile.image.registries[0]?.prefix, 'localhost:5000');
    assert.equal(fromFile.image.registries[0]?.insecure, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => configFromToml('[[registry]]\n[[registry.mirror]]\ninsecure = true\n'), /image.registries\[0\]/);
});

test('the printed config reads back as the same config', () => {
  const config = configFromToml('[[registry]]\nlocation = "example.test"\n[[registry.mirror]]\nlocation = "127.0.0.1:5000"\n');
  const again = configFromToml(configToToml(config));
  assert.deepEqual(again, config);
});

test('oom_score_adj is clamped to the daemon\'s own only when lowering it is refused', () => {
  assert.equal(clampOomScoreAdj(-998, { restricted: true, own: 0 }), 0);
  assert.equal(clampOomScoreAdj(500, { restricted: true, own: 0 }), 500);
  assert.equal(clampOomScoreAdj(-998, { restricted: false, own: 0 }), -998);
});

test('CDI spec directories default to /etc/cdi then /var/run/cdi; each must be absolute', () => {
  assert.deepEqual(configFromToml('').runtime.cdi_spec_dirs, ['/etc/cdi', '/var/run/cdi']);
  assert.deepEqual(configFromToml('[runtime]\ncdi_spec_dirs = ["/opt/cdi"]').runtime.cdi_spec_dirs, ['/opt/cdi']);
  assert.throws(() => configFromToml('[runtime]\ncdi_spec_dirs = ["cdi"]'), (err: unknown) => err instanceof ConfigError && err.key === 'runtime.cdi_spec_dirs[0]');
});
