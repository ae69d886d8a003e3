import test from 'node:test';
import assert from 'node:assert/strict';
import { PlainScalar, YamlError, parseYaml, type YamlValue } from '../../lib/cdi/index.js';

/** The parsed value with plain scalars as their text, for comparison. */
function plain(v: YamlValue): unknown {
  if (v instanceof PlainScalar) return v.text;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

// The shape CDI's own writer produces (keys sorted, sequences at their key's indentation).
const GENERATED = `---
cdiVersion: 0.5.0
containerEdits:
  env:
  - NVIDIA_VISIBLE_DEVICES=void
  hooks:
  - args:
    - nvidia-cdi-hook
    - create-symlinks
    - --link
    - libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so
    hookName: createContainer
    path: /usr/bin/nvidia-cdi-hook
  mounts:
  - containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05
    hostPath: /usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05
    options:
    - ro
    - nosuid
    - nodev
    - bind
devices:
- containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
  name: "0"
- containerEdits:
    deviceNodes:
      - path: /dev/nvidia1   # indented items are fine too
        fileMode: 0666
  name: '1'
kind: nvidia.com/gpu
`;

test('CDI specs as CDI writes them parse: nested mappings, sequences at their key\'s indentation, quoted names', () => {
  assert.deepEqual(plain(parseYaml(GENERATED)), {
    cdiVersion: '0.5.0',
    containerEdits: {
      env: ['NVIDIA_VISIBLE_DEVICES=void'],
      hooks: [{ args: ['nvidia-cdi-hook', 'create-symlinks', '--link', 'libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so'], hookName: 'createContainer', path: '/usr/bin/nvidia-cdi-hook' }],
      mounts: [{ containerPath: '/usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05', hostPath: '/usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05', options: ['ro', 'nosuid', 'nodev', 'bind'] }],
    },
    devices: [
      { containerEdits: { deviceNodes: [{ path: '/dev/nvidia0' }] }, name: '0' },
      { containerEdits: { deviceNodes: [{ path: '/dev/nvidia1', fileMode: '0666' }] }, name: '1' },
    ],
    kind: 'nvidia.com/gpu',
  });
  const quotedName = (parseYaml(GENERATED) as { devices: { name: YamlValue }[] }).devices[0]!.name;
  assert.equal(quotedName, '0', 'a quoted scalar is a string, not a plain scalar');
});

test('flow collections, escapes, nulls and comments', () => {
  assert.deepEqual(plain(parseYaml([
    'a: []', 'b: {}', 'c: [x, "y, z", \'it\'\'s\']', 'd: {k: v, "q": [1, 2]}', 'e:', 'f: ~', 'g: "tab\\there \\u00e9"', 'h: a#b # comment',
    '# a whole-line comment', 'i: - not a list', 'j: "# not a comment"',
  ].join('\n'))), { a: [], b: {}, c: ['x', 'y, z', "it's"], d: { k: 'v', q: ['1', '2'] }, e: null, f: null, g: 'tab\there é', h: 'a#b', i: '- not a list', j: '# not a comment' });
  assert.equal(parseYaml(''), null);
  assert.deepEqual(plain(parseYaml('- - a\n  - b\n- c')), [['a', 'b'], 'c']);
});

test('what CDI specs do not use is refused with its line: anchors, tags, block scalars, tabs, duplicate keys, bad indentation', () => {
  const refused: [string, RegExp][] = [
    ['a: &x 1\nb: *x', /line 1: .*anchors/],
    ['a: !!str 1', /tags/],
    ['a: |\n  text', /block scalars/],
    ['a:\n\t- x', /line 2: tabs/],
    ['a: 1\na: 2', /line 2: duplicate key "a"/],
    ['a: 1\n   b: 2', /multi-line scalars|indentation/],
    ['a: "open', /must end on its line/],
    ['a: [1, 2', /close on its line/],
    ['--- \na: 1\n---\nb: 2', /one document/],
    ['a:\n  b: 1\n c: 2', /line 3/],
  ];
  for (const [text, expected] of refused) assert.throws(() => parseYaml(text), (err: unknown) => err instanceof YamlError && expected.test(err.message), text);
});

test('a key named __proto__ is data, not a prototype', () => {
  const v = parseYaml('__proto__:\n  polluted: yes') as Record<string, unknown>;
  assert.ok(Object.prototype.hasOwnProperty.call(v, '__proto__'));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
