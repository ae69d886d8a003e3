import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestDaemon } from '../helpers/daemon.js';

const DB_FILES = ['state.db', 'state.db-wal', 'state.db-shm'];

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

/** Whether a local user other than root (nobody) can read the file. */
function readableByNobody(path: string): boolean {
  return spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'cat', path], { stdio: 'ignore' }).status === 0;
}

describe('the state database is root\'s alone', () => {
  let daemon: TestDaemon;

  before(async () => {
    daemon = await TestDaemon.start();
    // The directory above root is the test's own 0700 temp dir: open it so only root's own mode decides.
    chmodSync(daemon.dirs.base, 0o755);
    // A pod spec in the records, as kubelet's would be.
    await daemon.client.runtime('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.99.0.0/16' } } });
  });

  after(async () => {
    await daemon?.destroy();
  });

  it('keeps the database, its WAL and shared-memory files 0600 under a 0700 root, unreadable by other users', () => {
    const root = daemon.dirs.root;
    assert.equal(modeOf(root).toString(8), '700');
    for (const f of DB_FILES) {
      const path = join(root, f);
      assert.ok(existsSync(path), `${f} exists while the daemon runs`);
      assert.equal(modeOf(path).toString(8), '600', f);
      // Even with root's directory opened up, the file itself refuses.
      chmodSync(root, 0o755);
      assert.equal(readableByNobody(path), false, `${f} is readable by nobody`);
      chmodSync(root, 0o700);
    }
  });

  it('makes an older install\'s 0644 files and 0711 root private again at start', async () => {
    // Killed, so the WAL and shared-memory files stay beside the database, as after a crash.
    await daemon.kill();
    const root = daemon.dirs.root;
    chmodSync(root, 0o711);
    for (const f of DB_FILES) chmodSync(join(root, f), 0o644);
    daemon = await TestDaemon.start({ dirs: daemon.dirs });
    assert.equal(modeOf(root).toString(8), '700');
    for (const f of DB_FILES) assert.equal(modeOf(join(root, f)).toString(8), '600', f);
  });
});
