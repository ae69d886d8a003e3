#!/usr/bin/env node
/**
 * The program as shipped, made from tsc's output in dist/lib (npm run build runs this after tsc):
 *
 *   dist/bundle/runcri.cjs        the whole daemon as one CommonJS module, written inside Node's module
 *                                 wrapper function (the two native addons stay in node_modules)
 *   dist/bundle/runcri.cjs.cache  V8's code cache of it, made by running it once with the daemon's V8 flags
 *   dist/bundle/boot.cjs          the entry bin/runcri runs: the bundle, from that cache
 *   dist/bundle/unpack-worker.cjs the layer unpacker's worker thread, loaded beside the bundle
 *
 * One file instead of some 300 modules, and no compiling what the cache holds, is most of a
 * daemon's start (see bench/daemon-restart.ts).
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { isAscii } from 'node:buffer';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(repo, 'dist');
const out = join(dist, 'bundle');
const { DAEMON_NODE_FLAGS } = await import(join(dist, 'lib', 'cli', 'node-flags.js'));

rmSync(out, { recursive: true, force: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  // Native addons load from node_modules as they are.
  external: ['better-sqlite3', 'node-unix-socket'],
};

// In CommonJS there is no import.meta: the modules that find files beside themselves
// (protos/, bundles/, native/, the worker) get the bundle's own URL instead.
await build({
  ...common,
  entryPoints: [join(dist, 'lib', 'cli', 'main.js')],
  outfile: join(out, 'runcri.cjs'),
  format: 'cjs',
  // No whitespace or comments: a third less to hash, read and keep in the heap, and all ASCII
  // (a one-byte string). The source map beside it serves `node --enable-source-maps`.
  minifyWhitespace: true,
  legalComments: 'external',
  sourcemap: 'linked',
  define: { 'import.meta.url': '__runcriBundleUrl' },
  // Wrapped here, not at load time: the loader compiles the file as it is, with no second copy.
  banner: { js: '(function (exports, require, module, __filename, __dirname) {"use strict";\nconst __runcriBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  footer: { js: '})' },
});
await build({ ...common, entryPoints: [join(dist, 'lib', 'cli', 'boot.js')], outfile: join(out, 'boot.cjs'), format: 'cjs' });
// CommonJS too: a thread that starts no ESM loader starts faster, and what the worker imports
// only on first use (child_process, for programs and zstd) is then not loaded at its start.
await build({
  ...common,
  entryPoints: [join(dist, 'lib', 'storage', 'unpack-worker.js')],
  outfile: join(out, 'unpack-worker.cjs'),
  format: 'cjs',
  define: { 'import.meta.url': '__runcriBundleUrl' },
  banner: { js: 'const __runcriBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
});

if (!isAscii(readFileSync(join(out, 'runcri.cjs')))) {
  process.stderr.write('tools/bundle.mjs: runcri.cjs is not all ASCII\n');
  process.exit(1);
}

// The cache holds what one run compiled: every module's top level and the config path.
const made = spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, join(out, 'boot.cjs'), 'config', '--config', '/dev/null'], {
  env: { ...process.env, RUNCRI_CODE_CACHE_OUT: join(out, 'runcri.cjs.cache') },
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (made.status !== 0) {
  process.stderr.write(`tools/bundle.mjs: making the code cache failed (exit ${made.status})\n`);
  process.exit(1);
}
