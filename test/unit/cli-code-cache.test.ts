import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runBundle, writeCodeCache } from '../../lib/cli/code-cache.js';

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

interface Seen {
  filename: string;
  dirname: string;
  joined: string;
  exportsIsModuleExports: boolean;
  runs: number;
  marker: string;
}
const seen = globalThis as unknown as { __codeCacheTest?: Seen };

/** A bundle, written inside the module wrapper, that records what the loader gave it. */
function bundleSource(marker: string): string {
  return `(function (exports, require, module, __filename, __dirname) {
    const previous = globalThis.__codeCacheTest;
    function helper(a, b) { return require('node:path').join(a, b); }
    module.exports.marker = ${JSON.stringify(marker)};
    globalThis.__codeCacheTest = {
      filename: __filename,
      dirname: __dirname,
      joined: helper('a', 'b'),
      exportsIsModuleExports: exports === module.exports,
      runs: (previous ? previous.runs : 0) + 1,
      marker: module.exports.marker,
    };
  })`;
}

function fixture(): { dir: string; bundle: string; cache: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rct-boot-'));
  roots.push(dir);
  const bundle = join(dir, 'program.cjs');
  writeFileSync(bundle, bundleSource('one'));
  return { dir, bundle, cache: `${bundle}.cache` };
}

test('a bundle runs with its own module wrapper: __filename, __dirname, require, exports', () => {
  const { dir, bundle, cache } = fixture();
  delete seen.__codeCacheTest;
  const { outcome } = runBundle(bundle, cache);
  assert.equal(outcome, 'absent');
  assert.deepEqual(seen.__codeCacheTest, { filename: bundle, dirname: dir, joined: join('a', 'b'), exportsIsModuleExports: true, runs: 1, marker: 'one' });
});

test('a cache written after a run is taken by the next run, which still runs the bundle', () => {
  const { dir, bundle, cache } = fixture();
  const first = runBundle(bundle, cache);
  writeCodeCache(first, cache);
  assert.ok(existsSync(cache));
  assert.deepEqual(readdirSync(dir).sort(), ['program.cjs', 'program.cjs.cache'], 'no temporary file is left beside the cache');

  const runsBefore = seen.__codeCacheTest!.runs;
  const second = runBundle(bundle, cache);
  assert.equal(second.outcome, 'accepted');
  assert.equal(seen.__codeCacheTest!.runs, runsBefore + 1);
});

test('a cache made from another source is refused and the bundle compiles from its own', () => {
  const { bundle, cache } = fixture();
  writeCodeCache(runBundle(bundle, cache), cache);
  // Same length: V8's own check would take the old code; the digest does not.
  writeFileSync(bundle, bundleSource('owt'));
  const runsBefore = seen.__codeCacheTest!.runs;
  assert.equal(runBundle(bundle, cache).outcome, 'rejected');
  assert.equal(seen.__codeCacheTest!.runs, runsBefore + 1);
});

test('a damaged cache is refused, never run', () => {
  const { bundle, cache } = fixture();
  writeFileSync(cache, Buffer.alloc(4096, 0x5a));
  const runsBefore = seen.__codeCacheTest?.runs ?? 0;
  assert.equal(runBundle(bundle, cache).outcome, 'rejected');
  assert.equal(seen.__codeCacheTest!.runs, runsBefore + 1);
});

test('a bundle with characters beyond ASCII is read as UTF-8', () => {
  const { bundle, cache } = fixture();
  writeFileSync(bundle, bundleSource('caf\u00e9 \u2713'));
  const loaded = runBundle(bundle, cache);
  assert.equal(loaded.outcome, 'absent');
  assert.equal(seen.__codeCacheTest!.marker, 'caf\u00e9 \u2713');
  writeCodeCache(loaded, cache);
  assert.equal(runBundle(bundle, cache).outcome, 'accepted');
});
