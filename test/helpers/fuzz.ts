/**
 * Seeded fuzzing for the unit suite: a small deterministic PRNG, byte mutations, and a runner
 * that gives a target a time budget, watches for uncaught exceptions, unhandled rejections and
 * memory growth, and names the seed (and iteration) of any failure so it can be replayed:
 *
 *   RUNCRI_FUZZ_SEED=1234 node --test dist/test/unit/streaming-fuzz.test.js
 *   RUNCRI_FUZZ_SEED=1234 RUNCRI_FUZZ_ITERATION=57 node --test ...   (that iteration alone)
 *   RUNCRI_FUZZ_SECONDS=60 ...                                       (a longer run)
 *
 * Without a seed in the environment each run picks a fresh one, so the suite keeps exploring;
 * the seed is printed either way.
 */
import { randomInt } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * The collector, so that RSS measures what the code under test holds and allocates, not the
 * test's own garbage waiting for a collection.
 */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const GC_EVERY = 8;

/** xoshiro128** seeded through splitmix32: fast, deterministic, good enough to drive mutations. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // splitmix32 spreads any seed (0 included) over the four words of state.
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A uniform 32-bit unsigned integer (xoshiro128**). */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 0x100000000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /** Sizes skewed towards the small, with the occasional large one. */
  size(max: number): number {
    const r = this.int(10);
    if (r < 6) return this.int(Math.min(max, 64) + 1);
    if (r < 9) return this.int(Math.min(max, 4096) + 1);
    return this.int(max + 1);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Values that sit on the edges of length fields and flags. */
const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

/** Applies 1 to 4 random edits: bit flips, byte sets, edge values, insertions, deletions, repeats, truncation. */
export function mutate(rng: Rng, input: Buffer): Buffer {
  let buf = Buffer.from(input);
  const edits = rng.range(1, 4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(buf.length + 1);
    switch (rng.int(7)) {
      case 0:
        if (buf.length > 0) buf[rng.int(buf.length)]! ^= 1 << rng.int(8);
        break;
      case 1:
        if (buf.length > 0) buf[rng.int(buf.length)] = rng.u32() & 0xff;
        break;
      case 2:
        if (buf.length > 0) buf[rng.int(buf.length)] = rng.pick(INTERESTING);
        break;
      case 3:
        buf = Buffer.concat([buf.subarray(0, at), rng.bytes(rng.size(64)), buf.subarray(at)]);
        break;
      case 4:
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(Math.min(buf.length, at + rng.size(64)))]);
        break;
      case 5: {
        const len = rng.size(256);
        const slice = buf.subarray(at, at + len);
        buf = Buffer.concat([buf.subarray(0, at), slice, slice, buf.subarray(at)]);
        break;
      }
      case 6:
        buf = buf.subarray(0, at);
        break;
    }
  }
  return buf;
}

/** Cuts a byte stream into random chunks, as a socket might deliver it. */
export function chunked(rng: Rng, wire: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let off = 0; off < wire.length;) {
    const n = rng.chance(0.2) ? rng.range(1, 16) : rng.range(1, 65536);
    chunks.push(wire.subarray(off, off + n));
    off += n;
  }
  return chunks;
}

export interface FuzzOptions {
  /** Time budget (RUNCRI_FUZZ_SECONDS overrides it). */
  seconds: number;
  /** Largest growth of the process RSS allowed over the run, in bytes. */
  maxRssGrowth: number;
  /** An iteration that takes longer has hung (default 10 s). */
  iterationTimeoutMs?: number;
}

export interface FuzzReport {
  seed: number;
  iterations: number;
  rssGrowth: number;
}

/** One line for the test's diagnostics: the seed that replays the run, and what it did. */
export function describeRun(name: string, r: FuzzReport): string {
  return `${name}: seed ${r.seed} (RUNCRI_FUZZ_SEED=${r.seed} replays it), ${r.iterations} iterations, RSS +${(r.rssGrowth / 1048576).toFixed(1)} MiB`;
}

/**
 * Runs `iteration` with a fresh Rng per iteration (derived from the run's seed and the
 * iteration number) until the budget is spent. Fails, naming the seed and iteration, when an
 * iteration throws, when anything escapes as an uncaught exception or unhandled rejection, or
 * when RSS grows past the bound.
 */
export async function fuzz(name: string, options: FuzzOptions, iteration: (rng: Rng, i: number) => Promise<void> | void): Promise<FuzzReport> {
  const seed = process.env.RUNCRI_FUZZ_SEED ? Number(process.env.RUNCRI_FUZZ_SEED) : randomInt(0, 0x7fffffff);
  const only = process.env.RUNCRI_FUZZ_ITERATION ? Number(process.env.RUNCRI_FUZZ_ITERATION) : undefined;
  const seconds = process.env.RUNCRI_FUZZ_SECONDS ? Number(process.env.RUNCRI_FUZZ_SECONDS) : options.seconds;
  const replay = `RUNCRI_FUZZ_SEED=${seed}`;
  const escaped: unknown[] = [];
  const onEscape = (err: unknown) => escaped.push(err);
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  collectGarbage();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  let i = only ?? 0;
  const deadline = Date.now() + seconds * 1000;
  try {
    do {
      const rng = new Rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0);
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no end within ${options.iterationTimeoutMs ?? 10_000} ms`)), options.iterationTimeoutMs ?? 10_000);
      });
      try {
        await Promise.race([iteration(rng, i), hung]);
      } catch (err) {
        throw new Error(`${name}: iteration ${i} failed (replay with ${replay} RUNCRI_FUZZ_ITERATION=${i}): ${(err as Error).stack ?? String(err)}`);
      } finally {
        clearTimeout(timer);
      }
      // Escapes from this iteration surface a tick or two later.
      await new Promise((r) => setImmediate(r));
      if (escaped.length > 0) {
        throw new Error(`${name}: iteration ${i} let an error escape (replay with ${replay} RUNCRI_FUZZ_ITERATION=${i}): ${String((escaped[0] as Error)?.stack ?? escaped[0])}`);
      }
      // Sampled before collecting: what an iteration allocated and dropped still counts. Collecting
      // every few iterations keeps the test's own garbage from piling up in the figure.
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      if (i % GC_EVERY === GC_EVERY - 1) collectGarbage();
      if (rssPeak - rssBefore > options.maxRssGrowth) {
        throw new Error(`${name}: RSS grew by ${rssPeak - rssBefore} bytes by iteration ${i}, more than ${options.maxRssGrowth} (replay with ${replay})`);
      }
      i++;
    } while (only === undefined && Date.now() < deadline);
  } finally {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  }
  return { seed, iterations: only === undefined ? i : 1, rssGrowth: rssPeak - rssBefore };
}
