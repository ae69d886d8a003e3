import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { cleanEntryPath, unpackLayer, UnsafeLayerEntryError } from '../../lib/storage/index.js';
import { buildTar, type EntrySpec } from '../helpers/oci-image.js';

describe('layer unpacking', () => {
  let base: string;
  let dir: string;
  beforeEach(() => {
    base = mkdtempSync('/tmp/rct-unpack-');
    dir = join(base, 'layer');
    mkdirSync(dir);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  const unpack = async (entries: EntrySpec[]) => unpackLayer(Readable.from([await buildTar(entries)]), dir);

  it('cleans entry paths and refuses ".."', () => {
    assert.equal(cleanEntryPath('/abs/./x//y'), 'abs/x/y');
    assert.equal(cleanEntryPath('./'), '');
    assert.throws(() => cleanEntryPath('a/../../b'), UnsafeLayerEntryError);
  });

  it('creates implied parents, replaces earlier entries, and keeps symlinks as written', async () => {
    const stats = await unpack([
      { path: 'deep/er/file', content: 'one' },
      { path: 'deep/er/file', content: 'two' },
      { path: 'swap', type: 'directory' },
      { path: 'swap/child', content: 'c' },
      { path: 'swap', content: 'now a file' },
      { path: 'abs-link', type: 'symlink', linkname: '/etc/shadow' },
    ]);
    assert.equal(readFileSync(join(dir, 'deep/er/file'), 'utf8'), 'two');
    assert.equal(readFileSync(join(dir, 'swap'), 'utf8'), 'now a file');
    assert.equal(readlinkSync(join(dir, 'abs-link')), '/etc/shadow');
    assert.ok(stats.inodes >= 5);
  });

  it('never writes through a symlink or a file parent', async () => {
    await assert.rejects(unpack([{ path: 'l', type: 'symlink', linkname: base }, { path: 'l/out', content: 'x' }]), /refused/);
    assert.ok(!existsSync(join(base, 'out')));
    rmSync(dir, { recursive: true }); mkdirSync(dir);
    await assert.rejects(unpack([{ path: 'f', content: 'x' }, { path: 'f/child', content: 'y' }]), /refused/);
    rmSync(dir, { recursive: true }); mkdirSync(dir);
    await assert.rejects(unpack([{ path: 'l', type: 'symlink', linkname: '/etc/passwd' }, { path: 'h', type: 'link', linkname: 'missing' }]), /hard link target/);
  });

  it('applies extended attributes but never overlay\'s own', async () => {
    await unpack([{ path: 'f', content: 'x', pax: { 'SCHILY.xattr.user.note': 'hello', 'SCHILY.xattr.trusted.overlay.opaque': 'y' } }]);
    const get = (name: string) => spawnSync('getfattr', ['--only-values', '-n', name, join(dir, 'f')], { encoding: 'utf8' });
    assert.equal(get('user.note').stdout, 'hello');
    assert.notEqual(get('trusted.overlay.opaque').status, 0);
  });

  it('writes devices, fifos, ownership and whiteouts', async () => {
    await unpack([
      { path: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { path: 'pipe', type: 'fifo', mode: 0o600 },
      { path: 'owned', content: 'o', uid: 1234, gid: 5678, mode: 0o4750 },
      { path: '.wh.removed' },
    ]);
    const dev = lstatSync(join(dir, 'dev/null'));
    assert.ok(dev.isCharacterDevice());
    assert.equal(dev.rdev, (1 << 8) | 3);
    assert.ok(lstatSync(join(dir, 'pipe')).isFIFO());
    const owned = lstatSync(join(dir, 'owned'));
    assert.deepEqual([owned.uid, owned.gid, owned.mode & 0o7777], [1234, 5678, 0o4750]);
    assert.ok(lstatSync(join(dir, 'removed')).isCharacterDevice());
    assert.deepEqual(readdirSync(dir).sort(), ['dev', 'owned', 'pipe', 'removed']);
  });
});
