import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConmonFiles } from '../../lib/oci/conmon-files.js';
import { Paths } from '../../lib/paths/index.js';

function withFiles(fn: (files: ConmonFiles, paths: Paths) => Promise<void>): () => Promise<void> {
  return async () => {
    const base = mkdtempSync(join(tmpdir(), 'runcri-exits-'));
    const paths = new Paths(join(base, 'root'), join(base, 'run'));
    mkdirSync(paths.exitDir, { recursive: true });
    try {
      await fn(new ConmonFiles(paths), paths);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  };
}

test('a container with an exit file reads as exited with its code; one without reads as running', withFiles(async (files, paths) => {
  writeFileSync(join(paths.exitDir, 'a'), '3');
  const a = files.exitStatus('a', false);
  assert.equal(a.state, 'exited');
  assert.equal(a.state === 'exited' && a.exitCode, 3);
  assert.deepEqual(files.exitStatus('b', false), { state: 'running' });
}));

test('an exit file that appears after a listing is seen once the synchronous pass is over', withFiles(async (files, paths) => {
  assert.deepEqual(files.exitStatus('a', false), { state: 'running' });
  writeFileSync(join(paths.exitDir, 'a'), '0');
  await Promise.resolve();
  assert.equal(files.exitStatus('a', false).state, 'exited');
}));

test('an exit file that is still empty reads as running until conmon has written the code', withFiles(async (files, paths) => {
  writeFileSync(join(paths.exitDir, 'a'), '');
  assert.deepEqual(files.exitStatus('a', false), { state: 'running' });
}));

test('a deep look whose monitor is gone finds an exit file written after the listing, not a lost container', withFiles(async (files, paths) => {
  assert.deepEqual(files.exitStatus('a', false), { state: 'running' });
  writeFileSync(join(paths.exitDir, 'a'), '137');
  // Same synchronous pass: the listing is stale, the deep look must still find the code.
  const status = files.exitStatus('a', true);
  assert.equal(status.state, 'exited');
  assert.equal(status.state === 'exited' && status.exitCode, 137);
}));

test('a deep look with no monitor and no exit file says the container is lost', withFiles(async (files) => {
  assert.deepEqual(files.exitStatus('gone', true), { state: 'lost' });
}));

test('a deep look whose monitor is alive reads as running, and an exit file still being written too', withFiles(async (files, paths) => {
  mkdirSync(dirname(files.conmonPidFile('a')), { recursive: true });
  writeFileSync(files.conmonPidFile('a'), String(process.pid));
  assert.deepEqual(files.exitStatus('a', true), { state: 'running' });
  writeFileSync(join(paths.exitDir, 'b'), '');
  await Promise.resolve();
  assert.deepEqual(files.exitStatus('b', true), { state: 'running' }, 'listed, empty: conmon is writing it');
}));
