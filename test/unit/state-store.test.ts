import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { StateStore, restrictRootDir } from '../../lib/state/index.js';

const WRITER = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'store-writer.js');

function withDir(fn: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runcri-state-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('records are read back after the store is reopened', withDir((dir) => {
  const path = join(dir, 'state.db');
  const first = StateStore.open(path);
  first.table<{ id: string; podId: string; v: number }>('containers').put({ id: 'c1', podId: 'p1', v: 1 });
  first.table<{ id: string; v: number }>('images').put({ id: 'sha256:abc', v: 2 });
  first.setSetting('pod_cidr', '10.88.0.0/16');
  first.close();
  const again = StateStore.open(path);
  assert.deepEqual(again.table('containers').all(), [{ id: 'c1', podId: 'p1', v: 1 }]);
  assert.deepEqual(again.table('images').get('sha256:abc'), { id: 'sha256:abc', v: 2 });
  assert.equal(again.setting('pod_cidr'), '10.88.0.0/16');
  again.close();
}));

test('a transaction that throws leaves nothing behind', withDir((dir) => {
  const store = StateStore.open(join(dir, 'state.db'));
  const pods = store.table<{ id: string }>('pods');
  assert.throws(() => store.transaction(() => {
    pods.put({ id: 'a' });
    throw new Error('half-way');
  }), /half-way/);
  assert.deepEqual(pods.all(), []);
  store.close();
}));

test('a writer killed with SIGKILL loses nothing it acknowledged', withDir(async (dir) => {
  const path = join(dir, 'state.db');
  const child = spawn(process.execPath, [WRITER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let acknowledged: string[] = [];
  let buffer = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    acknowledged = acknowledged.concat(lines);
    if (acknowledged.length >= 300) child.kill('SIGKILL');
  });
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(acknowledged.length >= 300);
  const store = StateStore.open(path);
  const ids = new Set(store.table('pods').all().map((r) => r.id));
  // Every acknowledged record is there unless the writer's own later step deleted it.
  for (const id of acknowledged) {
    const n = Number(id.slice(4));
    const deletable = (n + 1) % 3 === 0;
    // The writer deletes this one just before writing the next; killed in between, either is true.
    if (deletable && id === acknowledged[acknowledged.length - 1]) continue;
    const deletedLater = deletable && acknowledged.includes(`pod-${n + 1}`);
    assert.equal(ids.has(id), !deletedLater, `${id} ${deletedLater ? 'was deleted' : 'was acknowledged'}`);
  }
  store.close();
}));

test('a database from a newer runcri is refused rather than misread', withDir((dir) => {
  const path = join(dir, 'state.db');
  StateStore.open(path).close();
  // Simulate a future schema version.
  const db = StateStore.open(path);
  (db as unknown as { db: { pragma(s: string): void } }).db.pragma('user_version = 99');
  db.close();
  assert.throws(() => StateStore.open(path), /schema version 99 is newer/);
}));

test('the database and the files SQLite keeps beside it are 0600, also where an older version left them 0644', withDir((dir) => {
  const path = join(dir, 'state.db');
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
  const store = StateStore.open(path);
  store.setSetting('k', 'v');
  for (const f of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(f), '600', f);
  store.close();
  chmodSync(path, 0o644);
  writeFileSync(`${path}-journal`, '', { mode: 0o644 });
  StateStore.open(path).close();
  assert.equal(mode(path), '600');
  assert.equal(mode(`${path}-journal`), '600');
}));

test('root is made 0700, or 0711 when state_dir is it or lies below it (user-namespaced pods walk through)', withDir((dir) => {
  const root = join(dir, 'root');
  mkdirSync(root, { mode: 0o755 });
  assert.equal(restrictRootDir(root, join(dir, 'run')), 0o700);
  assert.equal(statSync(root).mode & 0o777, 0o700);
  assert.equal(restrictRootDir(root, join(root, 'run')), 0o711);
  assert.equal(statSync(root).mode & 0o777, 0o711);
  assert.equal(restrictRootDir(root, root), 0o711);
  assert.equal(restrictRootDir(root, join(dir, 'root-sibling')), 0o700);
}));
