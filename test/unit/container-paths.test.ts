import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveLogPath } from '../../lib/container/host-prep.js';

test('the log path stays inside the pod\'s log directory', () => {
  assert.equal(resolveLogPath('/var/log/pods/p', 'c/0.log', '/ctr'), '/var/log/pods/p/c/0.log');
  assert.throws(() => resolveLogPath('/var/log/pods/p', '../other/0.log', '/ctr'), /escapes/);
  assert.throws(() => resolveLogPath('/var/log/pods/p', '/etc/passwd', '/ctr'), /escapes/);
  assert.equal(resolveLogPath('', '', '/ctr'), '/ctr/container.log');
});
