import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroupSync, fileSyncer } from '../../lib/state/group-sync.js';

/** A disk whose syncs finish (or fail) when the test says. */
function manualDisk(): { sync: () => Promise<void>; syncs: number; finish: (err?: Error) => void } {
  const waiting: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  const disk = {
    syncs: 0,
    sync: () => {
      disk.syncs++;
      return new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
    },
    finish: (err?: Error) => {
      const next = waiting.shift();
      if (!next) throw new Error('no sync is waiting');
      if (err) next.reject(err);
      else next.resolve();
    },
  };
  return disk;
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('with nothing committed, durable resolves without touching the disk', async () => {
  const disk = manualDisk();
  await new GroupSync(disk.sync).durable();
  assert.equal(disk.syncs, 0);
});

test('commits are durable after one sync, and a second durable with nothing new does not sync again', async () => {
  const disk = manualDisk();
  const group = new GroupSync(disk.sync);
  group.noteCommit();
  group.noteCommit();
  let done = false;
  const durable = group.durable().then(() => { done = true; });
  await settled();
  assert.equal(done, false, 'not durable before the sync finished');
  disk.finish();
  await durable;
  await group.durable();
  assert.equal(disk.syncs, 1);
});

test('calls waiting at the same time share one sync', async () => {
  const disk = manualDisk();
  const group = new GroupSync(disk.sync);
  group.noteCommit();
  const waits = [group.durable(), group.durable(), group.durable()];
  await settled();
  disk.finish();
  await Promise.all(waits);
  assert.equal(disk.syncs, 1);
});

test('a commit made while a sync runs waits for a sync that started after it', async () => {
  const disk = manualDisk();
  const group = new GroupSync(disk.sync);
  group.noteCommit();
  let firstDone = false;
  let secondDone = false;
  const first = group.durable().then(() => { firstDone = true; });
  await settled();
  group.noteCommit();
  const second = group.durable().then(() => { secondDone = true; });
  disk.finish();
  await first;
  await settled();
  assert.equal(firstDone, true);
  assert.equal(secondDone, false, 'the first sync may have missed the later commit');
  assert.equal(disk.syncs, 2, 'a second sync started for it');
  disk.finish();
  await second;
});

test('a failed sync fails the callers waiting on it, and the next durable tries again', async () => {
  const disk = manualDisk();
  const group = new GroupSync(disk.sync);
  group.noteCommit();
  const failing = group.durable();
  await settled();
  disk.finish(Object.assign(new Error('EIO'), { code: 'EIO' }));
  await assert.rejects(failing, /EIO/);
  const retry = group.durable();
  await settled();
  assert.equal(disk.syncs, 2);
  disk.finish();
  await retry;
});

test('the WAL syncer has nothing to sync before the file exists, then keeps one descriptor for it until closed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runcri-sync-'));
  const openFds = () => readdirSync('/proc/self/fd').length;
  try {
    const wal = fileSyncer(join(dir, 'state.db-wal'));
    const before = openFds();
    await wal.sync();
    assert.equal(openFds(), before, 'a missing file is not opened');
    writeFileSync(join(dir, 'state.db-wal'), 'frames');
    await wal.sync();
    await wal.sync();
    assert.equal(openFds(), before + 1, 'one descriptor, kept between syncs');
    wal.close();
    assert.equal(openFds(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
