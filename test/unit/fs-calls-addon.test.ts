import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { installedFsCalls } from '../../lib/util/fs-calls.js';

const calls = installedFsCalls();

describe('the fs-calls addon\'s thread-pool calls', { skip: calls ? false : 'native/fs-calls.node is not built' }, () => {
  it('preadBatch reads each file into its own slot and reports each length or -errno', async () => {
    const dir = mkdtempSync('/tmp/rct-fscalls-');
    try {
      writeFileSync(join(dir, 'a'), 'alpha\n');
      writeFileSync(join(dir, 'b'), 'b'.repeat(100));
      const a = openSync(join(dir, 'a'), 'r');
      const b = openSync(join(dir, 'b'), 'r');
      const fds = Int32Array.from([a, b, 1_000_000]);
      const slots = Int32Array.from([0, 16, 48, 64]);
      const lengths = new Int32Array(3);
      const buffer = Buffer.alloc(64);
      await Promise.all([calls!.preadBatch(fds, buffer, slots, lengths, 0, 1), calls!.preadBatch(fds, buffer, slots, lengths, 1, 3)]);
      assert.deepEqual([...lengths], [6, 32, -constants.errno.EBADF]);
      assert.equal(buffer.toString('latin1', 0, 6), 'alpha\n');
      assert.equal(buffer.toString('latin1', 16, 48), 'b'.repeat(32), 'a file longer than its slot fills it and no more');
      closeSync(a);
      closeSync(b);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('preadBatch refuses slots that leave the buffer and ranges beyond the descriptors', () => {
    const fds = Int32Array.from([0, 0]);
    const lengths = new Int32Array(2);
    const buffer = Buffer.alloc(32);
    assert.throws(() => calls!.preadBatch(fds, buffer, Int32Array.from([0, 16, 33]), lengths, 0, 2), /within the buffer/);
    assert.throws(() => calls!.preadBatch(fds, buffer, Int32Array.from([16, 8, 32]), lengths, 0, 2), /ascending/);
    assert.throws(() => calls!.preadBatch(fds, buffer, Int32Array.from([0, 16, 32]), lengths, 1, 3), /range of fds/);
    assert.throws(() => calls!.preadBatch(fds, buffer, Int32Array.from([0, 16]), lengths, 0, 2), /one element more/);
    assert.throws(() => calls!.preadBatch([0, 0] as unknown as Int32Array, buffer, Int32Array.from([0, 16, 32]), lengths, 0, 2), /Int32Array/);
  });

  it('writeOnce writes and reports the bytes written, or -errno, in its state before it settles', async () => {
    const dir = mkdtempSync('/tmp/rct-fscalls-');
    try {
      const fd = openSync(join(dir, 'out'), 'w');
      const state = new Int32Array(2);
      await calls!.writeOnce(fd, Buffer.from('line one\n'), state);
      assert.deepEqual([...state], [1, 9]);
      closeSync(fd);
      assert.equal(readFileSync(join(dir, 'out'), 'utf8'), 'line one\n');
      const bad = new Int32Array(2);
      await calls!.writeOnce(1_000_000, Buffer.from('x'), bad);
      assert.deepEqual([...bad], [1, -constants.errno.EBADF]);
      assert.throws(() => calls!.writeOnce(1, Buffer.from('x'), new Int32Array(3)), /two elements/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
