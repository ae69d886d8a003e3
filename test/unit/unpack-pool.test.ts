import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { CancelledError, DeadlineExceededError } from '../../lib/errors/index.js';
import { TarFormatError, UnpackPool, UnsafeLayerEntryError } from '../../lib/storage/index.js';
import { compress } from '../helpers/oci-image.js';
import { tarBytes } from '../helpers/tar-writer.js';

/** A source that yields `data` in pieces, then fails with `error` if given. */
async function* pieces(data: Buffer, size: number, error?: Error): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
  if (error) throw error;
}

describe('layer unpack worker pool', () => {
  let base: string;
  let pool: UnpackPool;
  let n = 0;
  const fresh = (): string => {
    const dir = join(base, `layer${n++}`);
    mkdirSync(dir);
    return dir;
  };
  before(() => {
    base = mkdtempSync('/tmp/rct-pool-');
    pool = new UnpackPool(2);
  });
  after(async () => {
    await pool.close();
    rmSync(base, { recursive: true, force: true });
  });

  const archive = tarBytes([
    { path: 'etc/', type: 'directory' },
    { path: 'etc/hostname', content: 'pooled' },
    ...Array.from({ length: 200 }, (_, i) => ({ path: `many/f${i}`, content: `file ${i}`.repeat(50) })),
  ]);
  const diffId = `sha256:${createHash('sha256').update(archive).digest('hex')}`;

  it('unpacks gzip, zstd and plain layers on worker threads and returns their diff ID', async () => {
    for (const [compression, data] of [['gzip', gzipSync(archive)], ['zstd', compress(archive, 'zstd')], ['none', archive]] as const) {
      const dir = fresh();
      const lease = await pool.acquire(new AbortController().signal);
      try {
        const stats = await lease.unpack(pieces(data, 1000), dir, compression, new AbortController().signal);
        assert.equal(stats.diffId, diffId, compression);
        assert.equal(readFileSync(join(dir, 'etc/hostname'), 'utf8'), 'pooled');
        assert.equal(readdirSync(join(dir, 'many')).length, 200);
      } finally {
        lease.release();
      }
    }
  });

  it('unpacks as many layers at once as it has workers; the next waits for a free one', async () => {
    const a = await pool.acquire(new AbortController().signal);
    const b = await pool.acquire(new AbortController().signal);
    const waiting = new AbortController();
    let third = false;
    const c = pool.acquire(waiting.signal).then((lease) => { third = true; return lease; });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(third, false);
    const dirs = [fresh(), fresh()];
    const both = await Promise.all([a, b].map((lease, i) => lease.unpack(pieces(gzipSync(archive), 4096), dirs[i]!, 'gzip', new AbortController().signal)));
    assert.deepEqual(both.map((s) => s.diffId), [diffId, diffId]);
    a.release();
    (await c).release();
    b.release();
    assert.equal(third, true);
  });

  it('carries the unpacker\'s domain errors across the thread, and the worker serves the next layer', async () => {
    const lease = await pool.acquire(new AbortController().signal);
    try {
      const escape = tarBytes([{ path: 'l', type: 'symlink', linkname: '/' }, { path: 'l/etc/evil', content: 'x' }]);
      await assert.rejects(lease.unpack(pieces(gzipSync(escape), 512), fresh(), 'gzip', new AbortController().signal), UnsafeLayerEntryError);
      await assert.rejects(lease.unpack(pieces(Buffer.alloc(4096, 1), 512), fresh(), 'none', new AbortController().signal), TarFormatError);
      await assert.rejects(lease.unpack(pieces(Buffer.from('not gzip at all'), 512), fresh(), 'gzip', new AbortController().signal), /layer stream failed/);
      const dir = fresh();
      assert.equal((await lease.unpack(pieces(archive, 10_000), dir, 'none', new AbortController().signal)).diffId, diffId);
    } finally {
      lease.release();
    }
  });

  it('reports a failing source as itself, only after the worker has stopped writing', async () => {
    const lease = await pool.acquire(new AbortController().signal);
    try {
      const dir = fresh();
      const stalled = new DeadlineExceededError('stalled');
      await assert.rejects(lease.unpack(pieces(gzipSync(archive).subarray(0, 3000), 1000, stalled), dir, 'gzip', new AbortController().signal), (err) => err === stalled);
      // Whatever the worker had written is there, and nothing is added afterwards.
      const before = readdirSync(dir, { recursive: true }).length;
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(readdirSync(dir, { recursive: true }).length, before);
    } finally {
      lease.release();
    }
  });

  it('gives up waiting for a worker when the pull is cancelled, and refuses leases once closed', async () => {
    const small = new UnpackPool(1);
    const held = await small.acquire(new AbortController().signal);
    const cancel = new AbortController();
    const waiting = small.acquire(cancel.signal);
    cancel.abort(new CancelledError('pull cancelled'));
    await assert.rejects(waiting, /pull cancelled/);
    held.release();
    await small.close();
    await assert.rejects(small.acquire(new AbortController().signal), CancelledError);
    assert.ok(!existsSync(join(base, 'never')));
  });

  it('unpacks a source given as a Node stream', async () => {
    const lease = await pool.acquire(new AbortController().signal);
    try {
      const dir = fresh();
      const stats = await lease.unpack(Readable.from([gzipSync(archive)]), dir, 'gzip', new AbortController().signal);
      assert.equal(stats.diffId, diffId);
    } finally {
      lease.release();
    }
  });
});
