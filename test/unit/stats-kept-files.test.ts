import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupManager } from '../../lib/cgroups/index.js';
import { KeptCgroupFiles } from '../../lib/stats/kept-files.js';

function fixture() {
  const base = mkdtempSync('/tmp/rct-kept-');
  const files = new KeptCgroupFiles(new CgroupManager({ version: 2, v1: [], unified: base }));
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
