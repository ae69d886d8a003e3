import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TarFileWriter, TarReader, type TarEntry } from '../../lib/storage/index.js';

/** Every entry of a tar file with its data, as the daemon's own reader reads it. */
function readAll(path: string): { entry: TarEntry; data: Buffer }[] {
  const reader = new TarReader();
  reader.write(readFileSync(path));
  reader.close();
  const out: { entry: TarEntry; data: Buffer }[] = [];
  for (let e = reader.read(); e !== undefined; e = reader.read()) {
    if (e.kind === 'end') break;
    if (e.kind === 'entry') out.push({ entry: e.entry, data: Buffer.alloc(0) });
    else out[out.length - 1]!.data = Buffer.concat([out[out.length - 1]!.data, e.chunk]);
  }
  return out;
}

test('what the tar writer writes, the layer reader reads back: types, modes, owners, long names, big IDs and binary xattrs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runcri-tarw-'));
  const source = join(dir, 'source');
  const content = Buffer.alloc(70_000, 7);
  writeFileSync(source, content);
  const long = `${'deep/'.repeat(40)}file-with-a-name-longer-than-ustar-holds`;
  const capability = Buffer.from([1, 0, 0, 2, 0xff, 0, 0x80, 0]);
  const tar = await TarFileWriter.create(join(dir, 'out.tar'), 0o600);
  await tar.add({ name: 'etc/', type: 'directory', mode: 0o40755, uid: 0, gid: 0, mtime: 1_700_000_000 });
  await tar.add({ name: 'etc/motd', type: 'file', mode: 0o644, uid: 3000000000, gid: 5, mtime: 1 }, Buffer.from('hello\n'));
  await tar.addFile({ name: long, type: 'file', mode: 0o600, size: content.length, xattrs: new Map([['security.capability', capability]]) }, source);
  await tar.add({ name: 'bin/sh', type: 'symlink', mode: 0o777, linkname: '/bin/busybox' });
  await tar.add({ name: 'etc/motd2', type: 'link', mode: 0o644, linkname: 'etc/motd' });
  await tar.add({ name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 });
  await tar.add({ name: 'run/fifo', type: 'fifo', mode: 0o600 });
  await tar.finish();

  const entries = readAll(join(dir, 'out.tar'));
  assert.deepEqual(entries.map((e) => [e.entry.name, e.entry.type]), [
    ['etc/', 'directory'], ['etc/motd', 'file'], [long, 'file'], ['bin/sh', 'symlink'], ['etc/motd2', 'link'], ['dev/null', 'character-device'], ['run/fifo', 'fifo'],
  ]);
  const motd = entries[1]!;
  assert.equal(motd.data.toString(), 'hello\n');
  assert.equal(motd.entry.uid, 3000000000, 'an ID beyond the octal field survives');
  assert.equal(motd.entry.gid, 5);
  assert.equal(motd.entry.mode & 0o7777, 0o644);
  assert.equal(entries[0]!.entry.mtime, 1_700_000_000);
  assert.ok(entries[2]!.data.equals(content), 'the whole file, across chunks');
  assert.ok(entries[2]!.entry.xattrs.get('security.capability')?.equals(capability));
  assert.equal(entries[3]!.entry.linkname, '/bin/busybox');
  assert.equal(entries[4]!.entry.linkname, 'etc/motd');
  assert.deepEqual([entries[5]!.entry.devmajor, entries[5]!.entry.devminor], [1, 3]);
  rmSync(dir, { recursive: true });
});

test('a file that shrinks while it is archived fails the member instead of writing a short one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runcri-tarw-'));
  writeFileSync(join(dir, 'small'), 'abc');
  const tar = await TarFileWriter.create(join(dir, 'out.tar'), 0o600);
  await assert.rejects(tar.addFile({ name: 'small', type: 'file', mode: 0o644, size: 10 }, join(dir, 'small')), /became shorter while it was archived \(7 bytes missing\)/);
  await tar.abandon();
  rmSync(dir, { recursive: true });
});
