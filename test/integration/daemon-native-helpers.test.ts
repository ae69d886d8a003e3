import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DAEMON_MAIN, daemonArgs, makeTestDirs } from '../helpers/daemon.js';
import { CriClient } from '../helpers/cri-client.js';
import { unmountBelow } from '../helpers/system.js';

/** The repository the build is in: the bundle lives in its dist/bundle. */
const REPO = join(dirname(DAEMON_MAIN), '..', '..');

/** An installation like this one (the bundle, links to what it reads), with `native` as its native/. */
function installation(native: 'empty' | 'this build\'s'): string {
  const dir = mkdtempSync('/tmp/rct-install-');
  cpSync(join(REPO, 'package.json'), join(dir, 'package.json'));
  cpSync(dirname(DAEMON_MAIN), join(dir, 'dist', 'bundle'), { recursive: true });
  for (const shared of ['node_modules', 'bundles', 'protos']) symlinkSync(join(REPO, shared), join(dir, shared));
  if (native === 'empty') mkdirSync(join(dir, 'native'));
  else symlinkSync(join(REPO, 'native'), join(dir, 'native'));
  return dir;
}

/** Starts the installation's daemon, waits for its first answer, and gives its start-up log lines. */
async function startLog(install: string): Promise<string[]> {
  const dirs = makeTestDirs();
  const args = daemonArgs(dirs, { logLevel: 'info' }).map((a) => (a === DAEMON_MAIN ? join(install, 'dist', 'bundle', 'boot.cjs') : a));
  const daemon = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  daemon.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const client = new CriClient(dirs.socket);
  try {
    const deadline = Date.now() + 30_000;
    let name: string | undefined;
    while (!name && Date.now() < deadline) {
      name = await client.runtime('Version', {}).then((v) => v.runtime_name ?? '', () => undefined);
      if (!name) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(name, 'runcri', `the daemon did not answer:\n${stderr}`);
    // Stopped once its handler probes have ended: a probe cut short leaves its container behind.
    while (Date.now() < deadline) {
      const status = await client.runtime('Status', { verbose: true });
      const handlers = JSON.parse(status.info?.runtime_handlers ?? '[]') as Array<{ probe: { source: string; pending: boolean } }>;
      if (handlers.every((h) => !h.probe.pending && h.probe.source !== 'none')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    return stderr.split('\n').filter((l) => l.startsWith('{'));
  } finally {
    client.close();
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
    unmountBelow(dirs.base);
    rmSync(dirs.base, { recursive: true, force: true });
    rmSync(install, { recursive: true, force: true });
  }
}

const warningsOf = (lines: string[]) => lines.filter((l) => l.includes('native helpers are not built')).map((l) => JSON.parse(l) as { level: number; missing: Record<string, string> });

test('a daemon without its native helpers serves, and says at start which are missing and what that costs', async () => {
  const warnings = warningsOf(await startLog(installation('empty')));
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.level, 40);
  assert.deepEqual(Object.keys(warnings[0]!.missing).sort(), ['native/fs-calls.node', 'native/idmap-mount', 'native/mount-helper', 'native/pty-exec', 'native/spawn-helper']);
  assert.match(warnings[0]!.missing['native/pty-exec']!, /terminal/);
});

test('a daemon with every native helper built says nothing of them', async (t) => {
  const built = ['spawn-helper', 'mount-helper', 'pty-exec', 'idmap-mount', 'fs-calls.node'].every((f) => existsSync(join(REPO, 'native', f)));
  if (!built) {
    t.skip('make has not built every native helper here');
    return;
  }
  const lines = await startLog(installation('this build\'s'));
  assert.ok(lines.some((l) => l.includes('runcri is serving')));
  assert.deepEqual(warningsOf(lines), []);
});
