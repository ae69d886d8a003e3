import { it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedMutex } from '../../lib/util/keyed-mutex.js';

it('runs tasks of one key one at a time, in order, even after a failure, and other keys alongside', async () => {
  const mutex = new KeyedMutex();
  const events: string[] = [];
  const task = (name: string, ms: number, fail = false) => async () => {
    events.push(`start ${name}`);
    await new Promise((r) => setTimeout(r, ms));
    events.push(`end ${name}`);
    if (fail) throw new Error(name);
    return name;
  };
  const results = await Promise.allSettled([
    mutex.run('a', task('a1', 20, true)),
    mutex.run('a', task('a2', 5)),
    mutex.run('b', task('b1', 5)),
  ]);
  assert.equal(results[0].status, 'rejected');
  assert.deepEqual(results[1], { status: 'fulfilled', value: 'a2' });
  assert.deepEqual(events, ['start a1', 'start b1', 'end b1', 'end a1', 'start a2', 'end a2']);
});
