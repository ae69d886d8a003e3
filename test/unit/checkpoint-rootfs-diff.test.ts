import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lowerNamesIn, parseGetfattrDump, planRootfsDiff, type UpperNode } from '../../lib/container/rootfs-diff.js';

test('whiteouts in the upper layer are the deleted files; everything else is archived, parents first', () => {
  const nodes: UpperNode[] = [
    { rel: 'etc', kind: 'directory' },
    { rel: 'etc/motd', kind: 'whiteout' },
    { rel: 'etc/new.conf', kind: 'other' },
    { rel: 'usr', kind: 'directory' },
    { rel: 'usr/share', kind: 'directory' },
    { rel: 'usr/share/doc', kind: 'whiteout' },
  ];
  const plan = planRootfsDiff(nodes, () => assert.fail('no opaque directory: the image is never read'));
  assert.deepEqual(plan.members, ['etc', 'etc/new.conf', 'usr', 'usr/share']);
  assert.deepEqual(plan.deleted, ['/etc/motd', '/usr/share/doc']);
  assert.deepEqual(plan.subtrees, []);
});

test('an opaque directory deletes what the image had in it and the upper layer lacks', () => {
  const nodes: UpperNode[] = [
    { rel: 'var', kind: 'directory' },
    { rel: 'var/cache', kind: 'directory', opaque: true },
    { rel: 'var/cache/kept', kind: 'other' },
  ];
  const plan = planRootfsDiff(nodes, (dir) => (dir === 'var/cache' ? ['kept', 'old-a', 'old-b', 'old-a'] : []));
  assert.deepEqual(plan.members, ['var', 'var/cache', 'var/cache/kept']);
  assert.deepEqual(plan.deleted, ['/var/cache/old-a', '/var/cache/old-b'], 'each once, sorted; the one re-created is not deleted');
});

test('a redirected (renamed) directory is archived whole from the merged root: its content is not all in the upper layer', () => {
  const nodes: UpperNode[] = [
    { rel: 'srv', kind: 'directory', redirect: true },
    { rel: 'srv/in-upper', kind: 'other' },
    { rel: 'srv/gone', kind: 'whiteout' },
    { rel: 'opt', kind: 'whiteout' },
  ];
  const plan = planRootfsDiff(nodes, () => []);
  assert.deepEqual(plan.members, ['srv']);
  assert.deepEqual(plan.subtrees, ['srv']);
  assert.deepEqual(plan.deleted, ['/opt'], 'what is below a subtree comes with it, whiteouts there included');
});

test('getfattr\'s dump is read per path below the root, names unescaped, values as bytes', () => {
  const root = '/var/lib/upper';
  const dump = [
    '# file: /var/lib/upper',
    'trusted.overlay.origin=0sAPsdAAE=',
    '',
    '# file: /var/lib/upper/var/cache',
    'trusted.overlay.opaque="y"',
    '',
    '# file: /var/lib/upper/bin/ping',
    'security.capability=0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=',
    'user.hex=0x00ff',
    '',
    '# file: /var/lib/upper/name\\040with\\040spaces\\\\and\\303\\251',
    'user.note="text"',
    '',
    '# file: /elsewhere/ignored',
    'user.x="1"',
  ].join('\n');
  const attrs = parseGetfattrDump(dump, root);
  assert.deepEqual([...attrs.keys()], ['', 'var/cache', 'bin/ping', 'name with spaces\\and\u00e9']);
  assert.equal(attrs.get('var/cache')!.get('trusted.overlay.opaque')!.toString(), 'y');
  assert.deepEqual([...attrs.get('bin/ping')!.get('security.capability')!].slice(0, 4), [1, 0, 0, 2]);
  assert.deepEqual([...attrs.get('bin/ping')!.get('user.hex')!], [0, 255]);
  assert.equal(attrs.get('name with spaces\\and\u00e9')!.get('user.note')!.toString(), 'text');
});

test('the names an image has in a directory come from all its layers, through real directories only', () => {
  const base = mkdtempSync(join(tmpdir(), 'runcri-lower-'));
  const [l1, l2] = [join(base, 'l1'), join(base, 'l2')];
  mkdirSync(join(l1, 'etc'), { recursive: true });
  mkdirSync(join(l2, 'etc'), { recursive: true });
  writeFileSync(join(l1, 'etc', 'a'), '');
  writeFileSync(join(l2, 'etc', 'b'), '');
  writeFileSync(join(l2, 'etc', 'a'), '');
  // A layer's symlink to a directory of the node is no directory of the image.
  symlinkSync('/etc', join(l2, 'escape'));
  assert.deepEqual(lowerNamesIn([l2, l1], 'etc').sort(), ['a', 'b']);
  assert.deepEqual(lowerNamesIn([l2, l1], 'escape'), []);
  assert.deepEqual(lowerNamesIn([l2, l1], 'missing/deeper'), []);
  rmSync(base, { recursive: true });
});
