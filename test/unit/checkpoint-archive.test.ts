import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHIVE, extractCheckpointArchive, importedMember, importedPodMember, parseDeletedFiles, writeCheckpointArchive } from '../../lib/container/checkpoint-archive.js';
import { isRuntimeError } from '../../lib/errors/index.js';
import { TarFileWriter } from '../../lib/storage/index.js';

function work(): string {
  const dir = mkdtempSync(join(tmpdir(), 'runcri-archive-'));
  mkdirSync(join(dir, 'work', 'checkpoint'), { recursive: true });
  return dir;
}

test('the archive holds CRIU\'s images under checkpoint/ and the known files at the top, nothing else; it unpacks back to the same', async () => {
  const dir = work();
  const w = join(dir, 'work');
  writeFileSync(join(w, 'checkpoint', 'pages-1.img'), Buffer.alloc(200_000, 3));
  writeFileSync(join(w, 'checkpoint', 'descriptors.json'), '[]');
  symlinkSync('/etc/passwd', join(w, 'checkpoint', 'link.img'));
  for (const name of [ARCHIVE.configDump, ARCHIVE.specDump, ARCHIVE.rootfsDiff, ARCHIVE.deletedFiles, ARCHIVE.containerLog, ARCHIVE.dumpLog]) writeFileSync(join(w, name), `${name} content`);
  writeFileSync(join(w, 'stray-file'), 'not part of the layout');
  const location = join(dir, 'out.tar');
  await writeCheckpointArchive(w, location);
  assert.deepEqual(readdirSync(dir).sort(), ['out.tar', 'work'], 'no temporary file is left beside it');

  const dest = join(dir, 'dest');
  const written = await extractCheckpointArchive(location, dest);
  assert.deepEqual([...written].sort(), ['checkpoint/descriptors.json', 'checkpoint/pages-1.img', 'config.dump', 'container.log', 'deleted.files', 'dump.log', 'rootfs-diff.tar', 'spec.dump']);
  assert.ok(readFileSync(join(dest, 'checkpoint', 'pages-1.img')).equals(Buffer.alloc(200_000, 3)));
  assert.equal(readFileSync(join(dest, 'config.dump'), 'utf8'), 'config.dump content');
  assert.equal(existsSync(join(dest, 'stray-file')), false);
  assert.equal(existsSync(join(dest, 'checkpoint', 'link.img')), false, 'only CRIU\'s regular files are archived');
  rmSync(dir, { recursive: true });
});

test('an archive\'s members are unpacked only where the layout puts them', () => {
  const cases: [string, string, string | undefined][] = [
    ['config.dump', 'file', 'config.dump'],
    ['./spec.dump', 'file', 'spec.dump'],
    ['/container.log', 'file', 'container.log'],
    ['checkpoint/core-1.img', 'file', 'checkpoint/core-1.img'],
    ['checkpoint/deeper/core-1.img', 'file', undefined],
    ['checkpoint/../config.dump', 'file', undefined],
    ['../config.dump', 'file', undefined],
    ['other/config.dump', 'file', undefined],
    ['bind.mounts', 'file', undefined],
    ['config.dump', 'symlink', undefined],
    ['checkpoint/core-1.img', 'link', undefined],
    ['checkpoint/', 'directory', undefined],
  ];
  for (const [name, type, expected] of cases) assert.equal(importedMember({ name, type: type as 'file' }), expected, `${type} ${name}`);
});

test('an archive holding a member twice, or that is no tar, is INVALID_ARGUMENT naming it', async () => {
  const dir = work();
  const twice = join(dir, 'twice.tar');
  const tar = await TarFileWriter.create(twice, 0o600);
  await tar.add({ name: 'config.dump', type: 'file', mode: 0o600 }, Buffer.from('{}'));
  await tar.add({ name: './config.dump', type: 'file', mode: 0o600 }, Buffer.from('{"evil":1}'));
  await tar.finish();
  await assert.rejects(extractCheckpointArchive(twice, join(dir, 'd1')), (err: unknown) => isRuntimeError(err) && err.kind === 'invalid_argument' && /holds config\.dump twice/.test(err.message));
  writeFileSync(join(dir, 'junk.tar'), Buffer.alloc(1024, 0x41));
  await assert.rejects(extractCheckpointArchive(join(dir, 'junk.tar'), join(dir, 'd2')), (err: unknown) => isRuntimeError(err) && err.kind === 'invalid_argument' && err.message.includes('junk.tar'));
  rmSync(dir, { recursive: true });
});

test('deleted.files is a list of paths, made relative; anything else is INVALID_ARGUMENT', () => {
  assert.deepEqual(parseDeletedFiles(['/etc/motd', 'var/log/x', '/'], 'a.tar'), ['etc/motd', 'var/log/x']);
  assert.deepEqual(parseDeletedFiles(null, 'a.tar'), []);
  for (const bad of [{}, [1], 'etc/motd', [['x']]]) {
    assert.throws(() => parseDeletedFiles(bad, 'a.tar'), (err: unknown) => isRuntimeError(err) && err.kind === 'invalid_argument' && /a\.tar: deleted\.files is not a list of paths/.test(err.message));
  }
});

test('a pod archive\'s members are its two files and, in each container\'s directory, that container\'s members', () => {
  const cases: [string, string | undefined][] = [
    ['pod.options', 'pod.options'],
    ['./pod.dump', 'pod.dump'],
    ['config.dump', undefined],
    ['abc-web/config.dump', 'abc-web/config.dump'],
    ['abc-web/checkpoint/pages-1.img', 'abc-web/checkpoint/pages-1.img'],
    ['abc-web/checkpoint/x/pages-1.img', undefined],
    ['abc-web/pod.options', undefined],
    ['checkpoint/pages-1.img', undefined],
    ['../abc-web/config.dump', undefined],
    ['.hidden/config.dump', undefined],
  ];
  for (const [name, expected] of cases) assert.equal(importedPodMember({ name, type: 'file' }), expected, name);
  assert.equal(importedPodMember({ name: 'abc-web/config.dump', type: 'symlink' }), undefined);
});
