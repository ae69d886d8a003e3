import { Rng } from './fuzz.js';

/** Floats in [0, 1) from the suite's seeded generator, so a failing seed can be replayed. */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.u32() / 0x100000000;
}

/** The seed of a seeded test or benchmark: RUNCRI_TEST_SEED when set (to replay a failure), else `fallback`. */
export function testSeed(fallback: number): number {
  const fromEnv = Number(process.env.RUNCRI_TEST_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : fallback;
}
