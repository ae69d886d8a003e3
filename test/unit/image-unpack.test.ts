import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { cleanEntryPath, LayerWriteError, TarFormatError, unpackLayer, UnsafeLayerEntryError, xattrVerdict } from '../../lib/storage/index.js';
import { installedFsCalls, type FsCalls } from '../../lib/util/fs-calls.js';
import { buildTar, type EntrySpec } from '../helpers/oci-image.js';
import { tarBytes } from '../helpers/tar-writer.js';

/** cap_net_raw and cap_setuid, permitted and effective: a VFS_CAP_REVISION_2 value as setcap writes it (0x80 is not UTF-8). */
const CAP_NET_RAW_SETUID = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

function xattrHex(path: string, name: string): string | undefined {
  const r = spawnSync('getfattr', ['-h', '--only-values', '-e', 'hex', '-n', name, path], { encoding: 'buffer' });
  return r.status === 0 ? r.stdout.toString('hex') : undefined;
}

describe('layer unpacking', () => {
  let base: string;
  let dir: string;
  beforeEach(() => {
    base = mkdtempSync('/tmp/rct-unpack-');
    dir = join(base, 'layer');
    mkdirSync(dir);
  });
  // rm, not rmSync: some tests leave trees too deep for a recursive walk by path.
  afterEach(() => { spawnSync('rm', ['-rf', '--', base]); });

  const unpack = async (entries: EntrySpec[]) => unpackLayer(Readable.from([await buildTar(entries)]), dir);

  it('cleans entry paths and refuses ".."', () => {
    assert.equal(cleanEntryPath('/abs/./x//y'), 'abs/x/y');
    assert.equal(cleanEntryPath('./'), '');
    for (const [name, clean] of [['a/b/', 'a/b'], ['.a', '.a'], ['...', '...'], ['a/..b', 'a/..b'], ['a//b', 'a/b'], ['./a/./b/.', 'a/b'], ['/', ''], ['', '']]) {
      assert.equal(cleanEntryPath(name), clean, name);
    }
    for (const name of ['..', '../a', 'a/..', 'a/../b', '/..']) assert.throws(() => cleanEntryPath(name), UnsafeLayerEntryError, name);
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

  it('accepts a stream that ends after the last entry\'s data, without padding or end blocks', async () => {
    const archive = tarBytes([{ path: 'etc/', type: 'directory' }, { path: 'etc/inserted', content: 'from umoci insert' }], { ending: 'bare' });
    const stats = await unpackLayer(Readable.from([archive]), dir);
    assert.equal(readFileSync(join(dir, 'etc/inserted'), 'utf8'), 'from umoci insert');
    assert.equal(stats.diffId, `sha256:${createHash('sha256').update(archive).digest('hex')}`);
  });

  it('fails a stream cut inside an entry\'s data or header, with a format error', async () => {
    const archive = tarBytes([{ path: 'a', content: 'x'.repeat(2000) }, { path: 'b', content: 'y' }]);
    await assert.rejects(unpackLayer(Readable.from([archive.subarray(0, 1500)]), dir), TarFormatError);
    rmSync(dir, { recursive: true }); mkdirSync(dir);
    await assert.rejects(unpackLayer(Readable.from([archive.subarray(0, 2560 + 100)]), dir), /inside a header/);
  });

  it('refuses trusted.* and security.* attributes other than capabilities, and reports them', async () => {
    const stats = await unpack([{ path: 'f', content: 'x', pax: {
      'SCHILY.xattr.trusted.overlay.redirect': '/elsewhere', 'SCHILY.xattr.trusted.other': 'x', 'SCHILY.xattr.security.selinux': 'system_u:object_r:shadow_t:s0',
      'SCHILY.xattr.system.posix_acl_access': Buffer.from([2, 0, 0, 0]), 'SCHILY.xattr.user.kept': 'yes',
    } }]);
    for (const name of ['trusted.overlay.redirect', 'trusted.other', 'security.selinux', 'system.posix_acl_access']) {
      assert.equal(xattrHex(join(dir, 'f'), name), undefined, name);
    }
    assert.equal(xattrHex(join(dir, 'f'), 'user.kept'), Buffer.from('yes').toString('hex'));
    assert.equal(stats.skippedXattrCount, 4);
    assert.ok(stats.skippedXattrs.some((s) => s.startsWith('f: trusted.overlay.redirect (')));
    assert.deepEqual(['security.capability', 'user.x', 'trusted.overlay.opaque', 'security.ima', 'user.', 'system.x'].map((n) => xattrVerdict(n).apply), [true, true, false, false, false, false]);
  });

  it('refuses whiteouts that name nothing, the directory itself or its parent', async () => {
    for (const name of ['.wh.', 'sub/.wh.', '.wh..', 'sub/.wh..', '.wh...', 'sub/.wh...']) {
      rmSync(dir, { recursive: true }); mkdirSync(dir);
      await assert.rejects(unpack([{ path: 'keep', content: 'k' }, { path: 'sub/file', content: 's' }, { path: name }]), UnsafeLayerEntryError, name);
      assert.ok(lstatSync(dir).isDirectory(), `${name}: the layer root stays a directory`);
      assert.ok(existsSync(join(dir, 'keep')) && existsSync(join(dir, 'sub/file')), `${name}: nothing was removed`);
    }
  });

  it('replaces a deep directory of this layer by a file', async () => {
    const deep = Array.from({ length: 300 }, (_, i) => `d${i}`).join('/');
    await unpack([{ path: `top/${deep}/f`, content: 'x' }, { path: 'top', content: 'now a file' }]);
    assert.equal(readFileSync(join(dir, 'top'), 'utf8'), 'now a file');
  });

  it('gives files the owner and mode the archive says, in set-group-ID directories and under the umask', async () => {
    await unpack([
      { path: 'shared', type: 'directory', mode: 0o2775, gid: 50 },
      { path: 'shared/root-file', content: 'r', mode: 0o664 },
      { path: 'shared/sub-file', content: 's', mode: 0o640, uid: 7, gid: 8 },
      { path: 'open-to-all', content: 'w', mode: 0o777 },
      { path: 'secret', content: 's', mode: 0o000 },
      { path: 'again', type: 'directory', uid: 5, gid: 6, mode: 0o700 },
      { path: 'again', type: 'directory', mode: 0o755 },
    ]);
    const ids = (p: string) => { const st = lstatSync(join(dir, p)); return [st.uid, st.gid, st.mode & 0o7777]; };
    assert.deepEqual(ids('shared'), [0, 50, 0o2775]);
    assert.deepEqual(ids('shared/root-file'), [0, 0, 0o664]);
    assert.deepEqual(ids('shared/sub-file'), [7, 8, 0o640]);
    assert.deepEqual(ids('open-to-all'), [0, 0, 0o777]);
    assert.deepEqual(ids('secret'), [0, 0, 0]);
    assert.deepEqual(ids('again'), [0, 0, 0o755], 'a directory given again takes the later owner and mode');
    assert.equal(readFileSync(join(dir, 'secret'), 'utf8'), 's');
  });

  it('refuses, with a domain error and without making its parents, a path longer than the system takes', async () => {
    await assert.rejects(unpack([{ path: `${'a/'.repeat(100_000)}f`, content: 'x' }]), LayerWriteError);
    assert.deepEqual(readdirSync(dir), []);
    // Just inside the limit, 2,000 levels deep: made.
    const deep = `${'d/'.repeat(2000)}f`;
    await unpack([{ path: deep, content: 'bottom' }]);
    assert.ok(existsSync(join(dir, 'd')));
  });

  const addon = installedFsCalls();
  const ways: { name: string; calls: FsCalls | null | undefined; skip: string | false }[] = [
    { name: 'through the fs-calls addon', calls: undefined, skip: addon ? false : 'native/fs-calls.node is not built' },
    { name: 'through the mknod and setfattr programs', calls: null, skip: false },
  ];

  for (const way of ways) {
    const unpackWay = async (entries: EntrySpec[]) => unpackLayer(Readable.from([await buildTar(entries)]), dir, { fsCalls: way.calls });

    it(`makes whiteouts, opaque directories, devices and fifos with their exact modes, ${way.name}`, { skip: way.skip }, async () => {
      const stats = await unpackWay([
        { path: 'var/cache/', type: 'directory' },
        { path: 'var/cache/.wh..wh..opq' },
        { path: 'var/gone', content: 'replaced by its whiteout' },
        { path: 'var/.wh.gone' },
        { path: 'dev/zero', type: 'character-device', devmajor: 1, devminor: 5, mode: 0o666 },
        { path: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
        { path: 'run/pipe', type: 'fifo', mode: 0o1622 },
      ]);
      const mode = (p: string) => lstatSync(join(dir, p)).mode & 0o7777;
      const gone = lstatSync(join(dir, 'var/gone'));
      assert.ok(gone.isCharacterDevice() && gone.rdev === 0, 'a whiteout is a character device 0/0');
      assert.equal(mode('var/gone'), 0);
      assert.equal(xattrHex(join(dir, 'var/cache'), 'trusted.overlay.opaque'), Buffer.from('y').toString('hex'));
      const zero = lstatSync(join(dir, 'dev/zero'));
      assert.ok(zero.isCharacterDevice());
      assert.equal(zero.rdev, (1 << 8) | 5);
      assert.equal(mode('dev/zero'), 0o666, 'the umask takes nothing from a node');
      assert.ok(lstatSync(join(dir, 'dev/sda')).isBlockDevice());
      assert.equal(lstatSync(join(dir, 'dev/sda')).rdev, 8 << 8);
      assert.ok(lstatSync(join(dir, 'run/pipe')).isFIFO());
      assert.equal(mode('run/pipe'), 0o1622, 'the sticky bit is kept');
      assert.equal(stats.skippedXattrCount, 0);
    });

    it(`sets attributes byte for byte and reports one a symlink cannot take, ${way.name}`, { skip: way.skip }, async () => {
      const stats = await unpackWay([
        { path: 'bin/ping', content: 'elf', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': CAP_NET_RAW_SETUID, 'SCHILY.xattr.user.bin': Buffer.from([0, 0xff, 0x80]) } },
        { path: 'bin/link', type: 'symlink', linkname: 'ping', pax: { 'SCHILY.xattr.user.on-link': 'x' } },
      ]);
      assert.equal(xattrHex(join(dir, 'bin/ping'), 'security.capability'), CAP_NET_RAW_SETUID.toString('hex'));
      assert.equal(xattrHex(join(dir, 'bin/ping'), 'user.bin'), '00ff80');
      assert.equal(lstatSync(join(dir, 'bin/ping')).mode & 0o7777, 0o755);
      assert.equal(xattrHex(join(dir, 'bin/ping'), 'user.on-link'), undefined, 'never set through the link on its target');
      assert.equal(stats.skippedXattrCount, 1);
      assert.match(stats.skippedXattrs[0]!, /^bin\/link: user\.on-link \(not supported here: /);
    });
  }

  it('has the addon fail as fs calls do, with the errno name as the code', { skip: ways[0]!.skip }, () => {
    const path = join(dir, 'node');
    addon!.mknod(path, 0o020000, 0, 0);
    assert.throws(() => addon!.mknod(path, 0o020000, 0, 0), (err: NodeJS.ErrnoException) => err.code === 'EEXIST' && err.message.includes(path));
    assert.throws(() => addon!.lsetxattr(join(dir, 'missing'), 'user.x', Buffer.from('1')), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
    assert.throws(() => addon!.mknod(`${path}\0tail`, 0o010644, 0, 0), TypeError, 'a NUL would cut the path short');
    assert.throws(() => addon!.lsetxattr(path, 'user.x', 'text' as unknown as Buffer), TypeError);
  });
});
