import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MS, splitMountOptions } from '../../lib/mount/helper.js';

test('mount options split into MS_* flags and the filesystem data, in the order given', () => {
  assert.deepEqual(splitMountOptions('rw,nosuid,nodev,noexec,mode=1777,size=65536k'), { flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, data: 'mode=1777,size=65536k' });
  assert.deepEqual(splitMountOptions('ro,relatime'), { flags: MS.RDONLY | MS.RELATIME, data: '' });
  assert.deepEqual(splitMountOptions('lowerdir=a:b,,upperdir=u'), { flags: 0, data: 'lowerdir=a:b,upperdir=u' });
  assert.deepEqual(splitMountOptions(''), { flags: 0, data: '' });
});
