/**
 * 100 pod+container cycles (run, create, start, stop, remove) through the socket: none of the
 * leak counters of test/helpers/leaks.ts grows, and the daemon's RSS stays within a bound.
 * (bench/cycles runs 1,000, and kills the daemon mid-cycle.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { leakScope, podContainerCycle } from '../helpers/cycles.js';
import { assertNothingLeft, countLeaks, rssBytes, sizes } from '../helpers/leaks.js';

const CYCLES = 100;
const WARMUP = 5;
/**
 * V8 lets its heap grow before a major collection: bench/cycles saw the daemon at +16 MiB after
 * 100 cycles and back at +0.5 MiB after 400 (a plateau, not a climb). A leak of 300 KiB per
 * cycle (a record, a listener, a buffer kept per pod) passes this within 100 cycles.
 */
const RSS_NOISE_BYTES = 32 * 1024 * 1024;

let fx: ContainerFixture;

before(async () => {
  fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '100000'] } });
});

after(async () => {
  await fx?.destroy();
});

test(`${CYCLES} pod+container cycles grow no leak counter and the daemon's RSS by less than ${RSS_NOISE_BYTES / 1024 / 1024} MiB`, async (t) => {
  const scope = leakScope(fx);
  const empty = countLeaks(scope);
  // Caches, the CNI plugin result cache directory, V8's code: what the first cycles make once.
  for (let i = 0; i < WARMUP; i++) await podContainerCycle(fx, 'plain', i);
  await assertNothingLeft(scope, empty, `after ${WARMUP} cycles`);
  const rssBefore = rssBytes(fx.daemon.pid);
  const started = Date.now();
  for (let i = WARMUP; i < WARMUP + CYCLES; i++) await podContainerCycle(fx, 'plain', i);
  const ms = Date.now() - started;
  await assertNothingLeft(scope, empty, `after ${CYCLES} more cycles`);
  const rssAfter = rssBytes(fx.daemon.pid);
  t.diagnostic(`${CYCLES} cycles in ${ms} ms; daemon RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB; counters ${JSON.stringify(sizes(countLeaks(scope)))}`);
  assert.ok(rssAfter - rssBefore < RSS_NOISE_BYTES, `daemon RSS grew ${((rssAfter - rssBefore) / 2 ** 20).toFixed(1)} MiB over ${CYCLES} cycles`);
});
