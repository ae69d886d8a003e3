/**
 * The program as shipped: runs runcri's one-file bundle (`runcri.cjs`, made by
 * tools/bundle.mjs beside this file's bundled copy) from the V8 code cache made at build time.
 * A daemon started this way skips resolving and compiling some 300 modules: on a restart
 * kubelet waits for, that is most of the time before the first answer.
 *
 *   RUNCRI_CODE_CACHE_OUT=PATH  write the code cache to PATH when the process exits (the build)
 *   RUNCRI_BOOT_TRACE=1         tell on stderr whether the code cache was used
 */
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runBundle, writeCodeCache } from './code-cache.js';

const here = dirname(realpathSync(process.argv[1]!));
const bundle = join(here, 'runcri.cjs');
const cacheOut = process.env.RUNCRI_CODE_CACHE_OUT;
const trace = process.env.RUNCRI_BOOT_TRACE === '1';
// Not inherited by what the daemon spawns (conmon, runc, CNI plugins).
delete process.env.RUNCRI_CODE_CACHE_OUT;
delete process.env.RUNCRI_BOOT_TRACE;

const loaded = runBundle(bundle, `${bundle}.cache`);
if (trace) process.stderr.write(`runcri boot: code cache ${loaded.outcome}\n`);
if (cacheOut) process.on('exit', () => writeCodeCache(loaded, cacheOut));
