import test from 'node:test';
import assert from 'node:assert/strict';
import { runtimeSignal } from '../../lib/oci/signals.js';

test('real-time signals go to the runtime by number, the others by name', () => {
  assert.equal(runtimeSignal('SIGRTMIN'), '34');
  assert.equal(runtimeSignal('SIGRTMINPLUS12'), '46');
  assert.equal(runtimeSignal('SIGRTMAXMINUS1'), '63');
  assert.equal(runtimeSignal('SIGRTMAX'), '64');
  assert.equal(runtimeSignal('SIGTERM'), 'SIGTERM');
  assert.equal(runtimeSignal('KILL'), 'KILL');
  assert.equal(runtimeSignal('9'), '9');
  assert.equal(runtimeSignal('SIGRTMINPLUS99'), 'SIGRTMINPLUS99');
});
