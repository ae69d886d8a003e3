import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { parse as parseToml } from 'smol-toml';
import { DAEMON_MAIN } from '../helpers/daemon.js';
import { CONFIG_FLAGS } from '../../lib/cli/flags.js';
import { DAEMON_NODE_FLAGS } from '../../lib/cli/node-flags.js';

function runcri(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [DAEMON_MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('runcri --help documents every flag', () => {
  const { code, stdout } = runcri('--help');
  assert.equal(code, 0);
  for (const f of CONFIG_FLAGS) assert.match(stdout, new RegExp(`--${f.flag}\\b`), `--${f.flag} is documented`);
  assert.match(stdout, /--config PATH/);
  assert.match(stdout, /serve/);
});

test('runcri version prints the package version', () => {
  const out = execFileSync(process.execPath, [DAEMON_MAIN, 'version'], { encoding: 'utf8' });
  assert.match(out, /^runcri \d+\.\d+\.\d+/);
});

test('runcri config prints the effective config as TOML, flags applied', () => {
  const { code, stdout } = runcri('config', '--config', '/dev/null', '--root', '/srv/rc', '--cni-bin-dir', '/a', '--cni-bin-dir', '/b');
  assert.equal(code, 0);
  const doc = parseToml(stdout) as { root: string; network: { bin_dirs: string[]; cache_dir: string }; socket: string };
  assert.equal(doc.root, '/srv/rc');
  assert.deepEqual(doc.network.bin_dirs, ['/a', '/b']);
  assert.equal(doc.network.cache_dir, '/srv/rc/cni-cache');
  assert.equal(doc.socket, '/run/runcri/runcri.sock');
});

test('an unknown flag or command is refused with exit code 2', () => {
  const flag = runcri('serve', '--no-such-flag');
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /no-such-flag/);
  const command = runcri('frobnicate');
  assert.equal(command.code, 2);
  assert.match(command.stderr, /unknown command "frobnicate"/);
  const badInt = runcri('config', '--config', '/dev/null', '--streaming-port', 'eighty');
  assert.equal(badInt.code, 2);
  assert.match(badInt.stderr, /--streaming-port: expected an integer/);
});

test('the shipped program starts from its code cache under the daemon flags, and without it under others', () => {
  const withFlags = spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, DAEMON_MAIN, 'version'], { encoding: 'utf8', env: { ...process.env, RUNCRI_BOOT_TRACE: '1' } });
  assert.equal(withFlags.status, 0);
  assert.match(withFlags.stdout, /^runcri \d+\.\d+\.\d+/);
  assert.match(withFlags.stderr, /code cache accepted/);

  // V8 refuses a cache made under other flags; the program compiles from source and still works.
  const otherFlags = spawnSync(process.execPath, ['--max-semi-space-size=4', DAEMON_MAIN, 'version'], { encoding: 'utf8', env: { ...process.env, RUNCRI_BOOT_TRACE: '1' } });
  assert.equal(otherFlags.status, 0);
  assert.match(otherFlags.stdout, /^runcri \d+\.\d+\.\d+/);
  assert.match(otherFlags.stderr, /code cache rejected/);
});
