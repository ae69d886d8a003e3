import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupManager } from '../../lib/cgroups/index.js';
import { KeptCgroupFiles } from '../../lib/stats/kept-files.js';
import { installedFsCalls, type FsCalls } from '../../lib/util/fs-calls.js';

function fixture() {
  const base = mkdtempSync('/tmp/rct-kept-');
  const files = new KeptCgroupFiles(new CgroupManager({ version: 2, v1: [], unified: base }), null);
  return { base, files, done: () => { files.closeAll(); rmSync(base, { recursive: true, force: true }); } };
}

const openFds = () => readdirSync('/proc/self/fd').length;

test('a kept control file reads what it holds now, not what it held when opened', () => {
  const { base, files, done } = fixture();
  mkdirSync(join(base, 'pod', 'c1'), { recursive: true });
  writeFileSync(join(base, 'pod', 'c1', 'memory.current'), '100\n');
  assert.equal(files.read('/pod/c1', 'memory.current'), '100\n');
  writeFileSync(join(base, 'pod', 'c1', 'memory.current'), '2048\n');
  assert.equal(files.read('/pod/c1', 'memory.current'), '2048\n');
  done();
});

test('a file a cgroup lacks is undefined; a cgroup made later is read once it exists', () => {
  const { base, files, done } = fixture();
  mkdirSync(join(base, 'c1'));
  assert.equal(files.read('/c1', 'memory.swap.current'), undefined);
  assert.equal(files.read('/c2', 'memory.current'), undefined);
  mkdirSync(join(base, 'c2'));
  writeFileSync(join(base, 'c2', 'memory.current'), '7\n');
  assert.equal(files.read('/c2', 'memory.current'), '7\n');
  done();
});

test('a file larger than the read buffer is read whole', () => {
  const { base, files, done } = fixture();
  mkdirSync(join(base, 'c1'));
  const big = 'x'.repeat(100_000);
  writeFileSync(join(base, 'c1', 'memory.stat'), big);
  assert.equal(files.read('/c1', 'memory.stat'), big);
  done();
});

test('after a full listing the files of cgroups no longer listed are closed', () => {
  const { base, files, done } = fixture();
  for (const c of ['c1', 'c2', 'c3']) {
    mkdirSync(join(base, c));
    writeFileSync(join(base, c, 'cpu.stat'), 'usage_usec 1\n');
  }
  const before = openFds();
  for (const c of ['c1', 'c2', 'c3']) files.read(`/${c}`, 'cpu.stat');
  assert.equal(openFds(), before + 3);
  files.retain(new Set(['/c2']));
  assert.equal(openFds(), before + 1);
  assert.equal(files.read('/c2', 'cpu.stat'), 'usage_usec 1\n');
  done();
  assert.equal(openFds(), before);
});

describe('batch reads', () => {
  const addon = installedFsCalls();
  const ways: { name: string; calls: FsCalls | null; skip: string | false }[] = [
    { name: 'on the thread pool through the fs-calls addon', calls: addon ?? null, skip: addon ? false : 'native/fs-calls.node is not built' },
    { name: 'on the event loop', calls: null, skip: false },
  ];
  // Enough cgroups that a batch goes to the thread pool where it can.
  const CGROUPS = 12;
  const batchFixture = (calls: FsCalls | null) => {
    const base = mkdtempSync('/tmp/rct-kept-');
    const files = new KeptCgroupFiles(new CgroupManager({ version: 2, v1: [], unified: base }), calls);
    for (let i = 0; i < CGROUPS; i++) {
      mkdirSync(join(base, `c${i}`));
      writeFileSync(join(base, `c${i}`, 'memory.current'), `${i * 1000}\n`);
      writeFileSync(join(base, `c${i}`, 'cpu.stat'), `usage_usec ${i}\nuser_usec 0\n`);
    }
    const reads = (files: readonly string[]) => Array.from({ length: CGROUPS }, (_, i) => ({ path: `/c${i}`, files }));
    return { base, files, reads, done: () => { files.closeAll(); rmSync(base, { recursive: true, force: true }); } };
  };

  for (const way of ways) {
    describe(way.name, { skip: way.skip }, () => {
      it('gives each cgroup its own files; absent files, absent cgroups and no cgroup read as undefined', async () => {
        const { base, files, reads, done } = batchFixture(way.calls);
        const batch = [...reads(['memory.current', 'cpu.stat', 'memory.swap.current']), { path: '/gone', files: ['memory.current'] }, { path: '', files: ['memory.current'] }];
        const readers = await files.readBatch(batch);
        assert.equal(readers.length, batch.length);
        for (let i = 0; i < CGROUPS; i++) {
          assert.equal(readers[i]!('memory.current'), `${i * 1000}\n`);
          assert.equal(readers[i]!('cpu.stat'), `usage_usec ${i}\nuser_usec 0\n`);
          assert.equal(readers[i]!('memory.swap.current'), undefined);
        }
        assert.equal(readers[CGROUPS]!('memory.current'), undefined);
        assert.equal(readers[CGROUPS + 1]!('memory.current'), undefined);
        // A file the request did not name is read when asked for.
        writeFileSync(join(base, 'c3', 'memory.max'), 'max\n');
        assert.equal(readers[3]!('memory.max'), 'max\n');
        // The next batch reads what the files hold then.
        writeFileSync(join(base, 'c5', 'memory.current'), '77\n');
        assert.equal((await files.readBatch(reads(['memory.current'])))[5]!('memory.current'), '77\n');
        done();
      });

      it('reads a file whole however much it grew since its last read', async () => {
        const { base, files, reads, done } = batchFixture(way.calls);
        const big = 'x'.repeat(20_000);
        writeFileSync(join(base, 'c0', 'memory.stat'), big);
        writeFileSync(join(base, 'c1', 'memory.stat'), 'small 1\n');
        let readers = await files.readBatch(reads(['memory.stat', 'memory.current']));
        assert.equal(readers[0]!('memory.stat'), big, 'larger than a first read makes room for');
        assert.equal(readers[1]!('memory.stat'), 'small 1\n');
        const grown = 'y'.repeat(5_000);
        writeFileSync(join(base, 'c1', 'memory.stat'), grown);
        readers = await files.readBatch(reads(['memory.stat', 'memory.current']));
        assert.equal(readers[1]!('memory.stat'), grown, 'grown past the room its last length gave it');
        assert.equal(readers[0]!('memory.stat'), big);
        done();
      });

      it('keeps the files a running batch reads open until it ends, whatever closes them meanwhile', async () => {
        const { files, reads, done } = batchFixture(way.calls);
        await files.readBatch(reads(['memory.current', 'cpu.stat']));
        const before = openFds();
        const running = files.readBatch(reads(['memory.current', 'cpu.stat']));
        // A full listing that no longer has these cgroups, while the batch reads them.
        files.retain(new Set());
        if (way.calls) assert.equal(openFds(), before, 'closed while the batch runs');
        const readers = await running;
        assert.equal(openFds(), before - 2 * CGROUPS, 'closed once the batch ended');
        for (let i = 0; i < CGROUPS; i++) assert.equal(readers[i]!('memory.current'), `${i * 1000}\n`);
        done();
      });
    });
  }
});
