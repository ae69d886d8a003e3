import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/** What became of the code cache beside a bundle: V8 took it, it was refused (another bundle, another V8, other flags), or there was none. */
export type CodeCacheOutcome = 'accepted' | 'rejected' | 'absent';

export interface LoadedBundle {
  outcome: CodeCacheOutcome;
  /** The compiled bundle, for writing a cache that holds every function compiled so far. */
  script: Script;
  /** The bundle's SHA-256, which a cache written for it carries. */
  digest: string;
}

/*
 * A cache file is the bundle's SHA-256 in hex, a newline, then V8's data. V8 itself checks
 * only its version, its flags and the source's length, so a rebuilt bundle of the same length
 * would run with another bundle's compiled code; the digest rules that out for 2 ms.
 */
const DIGEST_LENGTH = 64;

function readCache(path: string, digest: string): Buffer | 'absent' | 'mismatch' {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch {
    // No cache (a build that has not made one, an unreadable file): compile from source.
    return 'absent';
  }
  if (file.length <= DIGEST_LENGTH + 1 || file.toString('latin1', 0, DIGEST_LENGTH) !== digest || file[DIGEST_LENGTH] !== 0x0a) return 'mismatch';
  return file.subarray(DIGEST_LENGTH + 1);
}

/** Beyond ASCII: such a source read as latin1 must be decoded again as UTF-8. */
const NON_ASCII = /[^\0-\x7f]/;

/**
 * Runs a bundle written as Node's module wrapper (`(function (exports, require, module,
 * __filename, __dirname) { ... })`, see tools/bundle.mjs) with its own `require` and `module`,
 * compiled with V8's code cache from `cachePath` when there is one for it. A cache that does not
 * fit costs the time of compiling from source, never correctness.
 *
 * The source is read straight into a string and compiled as it is: no buffer, no wrapped copy
 * is left for the garbage collector, which an idle daemon may not run for a long while.
 */
export function runBundle(bundlePath: string, cachePath: string): LoadedBundle {
  const raw = readFileSync(bundlePath, 'latin1');
  // latin1 maps each byte to one character, so this is the digest of the file's bytes.
  const digest = createHash('sha256').update(raw, 'latin1').digest('hex');
  // An all-ASCII source (what the build makes) stays a one-byte string: half the memory.
  const source = NON_ASCII.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
  const cache = readCache(cachePath, digest);
  const cachedData = typeof cache === 'string' ? undefined : cache;
  const script = new Script(source, { filename: bundlePath, cachedData });
  const outcome: CodeCacheOutcome = cache === 'absent' ? 'absent' : cache === 'mismatch' || script.cachedDataRejected ? 'rejected' : 'accepted';

  const module = new Module(bundlePath);
  module.filename = bundlePath;
  const require = createRequire(bundlePath);
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, require, module, bundlePath, dirname(bundlePath));
  return { outcome, script, digest };
}

/** Writes what V8 has compiled of the bundle so far, replacing `cachePath` atomically. */
export function writeCodeCache(loaded: LoadedBundle, cachePath: string): void {
  const temporary = `${cachePath}.${process.pid}.tmp`;
  writeFileSync(temporary, Buffer.concat([Buffer.from(`${loaded.digest}\n`, 'latin1'), loaded.script.createCachedData()]));
  renameSync(temporary, cachePath);
}
