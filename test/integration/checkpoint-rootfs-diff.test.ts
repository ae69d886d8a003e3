import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyRootfsDiff, captureRootfsDiff } from '../../lib/container/rootfs-diff.js';

let base: string;
const lower = () => join(base, 'lower');

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** The upper, work and mount directories of one overlay over the test's image layer. */
function overlayDirs(name: string): { upper: string; merged: string } {
  const [upper, work, merged] = ['upper', 'work', 'merged'].map((d) => join(base, name, d)) as [string, string, string];
  for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true });
  return { upper, merged };
}

function mount(name: string): void {
  run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower()},upperdir=${join(base, name, 'upper')},workdir=${join(base, name, 'work')}`, join(base, name, 'merged')]);
}

/** Everything a root filesystem shows, per path: type, mode, owner, content or target, user xattrs, hard link group. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = join(root, rel, name);
      const key = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path);
      const xattr = spawnSync('getfattr', ['-h', '-d', '-m', '^user\\.', '--absolute-names', path], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith('user.')).join(',');
      let what: string;
      if (st.isDirectory()) what = 'dir';
      else if (st.isSymbolicLink()) what = `link->${readlinkSync(path)}`;
      else if (st.isFIFO()) what = 'fifo';
      else what = `file:${readFileSync(path, 'utf8')}`;
      const group = st.isFile() && st.nlink > 1 ? `,hardlink:${inodes.get(st.ino) ?? (inodes.set(st.ino, key), key)}` : '';
      out[key] = `${what} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${xattr}${group}`;
      if (st.isDirectory()) walk(key);
    }
  };
  walk('');
  return out;
}

before(() => {
  base = mkdtempSync('/tmp/rct-rootfs-diff-');
  mkdirSync(join(lower(), 'etc'), { recursive: true });
  mkdirSync(join(lower(), 'var', 'cache'), { recursive: true });
  mkdirSync(join(lower(), 'usr', 'bin'), { recursive: true });
  writeFileSync(join(lower(), 'etc', 'motd'), 'welcome\n');
  writeFileSync(join(lower(), 'etc', 'keep'), 'original\n');
  writeFileSync(join(lower(), 'var', 'cache', 'a'), 'a\n');
  writeFileSync(join(lower(), 'var', 'cache', 'b'), 'b\n');
  writeFileSync(join(lower(), 'usr', 'bin', 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  chownSync(join(lower(), 'usr'), 42, 43);
});

after(() => {
  for (const name of ['first', 'second']) spawnSync('umount', [join(base, name, 'merged')]);
  rmSync(base, { recursive: true, force: true });
});

it('a container\'s changes captured from its overlay upper layer, applied to a fresh one, give the same root filesystem', { timeout: 60_000 }, async () => {
  const first = overlayDirs('first');
  mount('first');
  const m = first.merged;
  writeFileSync(join(m, 'etc', 'new.conf'), 'new\n');
  writeFileSync(join(m, 'etc', 'keep'), 'changed\n');
  rmSync(join(m, 'etc', 'motd'));
  rmSync(join(m, 'var', 'cache'), { recursive: true });
  mkdirSync(join(m, 'var', 'cache'));
  writeFileSync(join(m, 'var', 'cache', 'fresh'), 'fresh\n');
  chmodSync(join(m, 'usr', 'bin', 'tool'), 0o700);
  mkdirSync(join(m, 'data', 'deep'), { recursive: true });
  writeFileSync(join(m, 'data', 'deep', 'owned'), 'owned\n');
  chownSync(join(m, 'data', 'deep', 'owned'), 1234, 5678);
  run('setfattr', ['-n', 'user.note', '-v', 'kept', join(m, 'data', 'deep', 'owned')]);
  writeFileSync(join(m, 'data', 'one'), 'linked\n');
  linkSync(join(m, 'data', 'one'), join(m, 'data', 'two'));
  symlinkSync('../etc/keep', join(m, 'data', 'link'));
  run('mkfifo', [join(m, 'data', 'pipe')]);
  const expected = snapshot(m);

  const diffTar = join(base, 'rootfs-diff.tar');
  const deleted = await captureRootfsDiff({ upperDir: first.upper, merged: m, lowerDirs: [lower()], diffTar });
  assert.deepEqual(deleted.sort(), ['/etc/motd', '/var/cache/a', '/var/cache/b']);

  const second = overlayDirs('second');
  await applyRootfsDiff({ upperDir: second.upper, diffTar, deleted, lowerDirs: [lower()] });
  mount('second');
  assert.deepEqual(snapshot(second.merged), expected);
  assert.equal(readFileSync(join(second.merged, 'etc', 'keep'), 'utf8'), 'changed\n');
  assert.deepEqual(readdirSync(join(second.merged, 'var', 'cache')), ['fresh'], 'what the container deleted stays deleted');
});
