import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, makeTestDirs, readDaemonLog, removeTestDirs } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { ControlledFront, TestRegistry } from '../helpers/registry.js';
import { buildImage, makeLayer, pushImage, type BuiltImage, type LayerBlob } from '../helpers/oci-image.js';

function overlayEntries(root: string, sub: string): string[] {
  const dir = join(root, 'overlay', sub);
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('pull deduplication, stalls, cancellation and crashes', () => {
  let registry: TestRegistry;
  let front: ControlledFront;
  let shared: LayerBlob;
  let imageA: BuiltImage;
  let imageB: BuiltImage;

  before(async () => {
    registry = await TestRegistry.start();
    front = await ControlledFront.start(registry.host);
    // Incompressible, so the throttled download takes a while.
    shared = await makeLayer([{ path: 'big', content: randomBytes(3 * 1024 * 1024) }]);
    imageA = buildImage([shared, await makeLayer([{ path: 'a', content: 'a' }])]);
    imageB = buildImage([shared, await makeLayer([{ path: 'b', content: 'b' }])]);
    await pushImage(registry.host, 'test/a', 'v1', imageA);
    await pushImage(registry.host, 'test/b', 'v1', imageB);
  });

  after(async () => {
    await front?.stop();
    await registry?.stop();
  });

  it('downloads a layer shared by two concurrent pulls once', async () => {
    const daemon = await TestDaemon.start();
    try {
      front.behaviour = { bytesPerSecond: 6 * 1024 * 1024 };
      front.blobRequests.clear();
      const [a, b] = await Promise.all([
        daemon.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } }),
        daemon.client.image('PullImage', { image: { image: `${front.host}/test/b:v1` } }),
      ]);
      assert.equal(a.image_ref, imageA.config.digest);
      assert.equal(b.image_ref, imageB.config.digest);
      assert.equal(front.count(shared.digest), 1);
    } finally {
      front.behaviour = {};
      await daemon.destroy();
    }
  });

  it('retries a blob the registry fails transiently', async () => {
    const daemon = await TestDaemon.start();
    try {
      front.blobRequests.clear();
      front.behaviour = { failBlobRequests: 2 };
      const res = await daemon.client.image('PullImage', { image: { image: `${front.host}/test/b:v1` } });
      assert.equal(res.image_ref, imageB.config.digest);
      assert.equal(front.behaviour.failBlobRequests, 0);
      front.behaviour = { failBlobRequests: 100 };
      await daemon.client.image('RemoveImage', { image: { image: `${front.host}/test/b:v1` } });
      const err = await expectCode(daemon.client.image('PullImage', { image: { image: `${front.host}/test/b:v1` } }), grpc.status.UNAVAILABLE);
      assert.match(err.details, /HTTP 503/);
    } finally {
      front.behaviour = {};
      await daemon.destroy();
    }
  });

  it('fails a stalled pull naming the layer, and stays healthy', async () => {
    const daemon = await TestDaemon.start({ toml: '[image]\nstall_timeout_seconds = 1\n' });
    try {
      front.behaviour = { stallAfterBytes: 100_000 };
      const started = Date.now();
      const err = await expectCode(daemon.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } }), grpc.status.DEADLINE_EXCEEDED);
      assert.match(err.details, new RegExp(`layer ${shared.digest}: stalled`));
      assert.ok(Date.now() - started < 10_000);
      assert.deepEqual(overlayEntries(daemon.dirs.root, 'tmp'), []);
      front.behaviour = {};
      const res = await daemon.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } });
      assert.equal(res.image_ref, imageA.config.digest);
    } finally {
      front.behaviour = {};
      await daemon.destroy();
    }
  });

  it('stops downloading when the only client cancels, and the next pull works', async () => {
    const daemon = await TestDaemon.start();
    try {
      await expectCode(daemon.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } }, { deadlineMs: 1 }), grpc.status.DEADLINE_EXCEEDED);
      front.behaviour = { bytesPerSecond: 1024 * 1024 };
      front.blobRequests.clear();
      await expectCode(daemon.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } }, { deadlineMs: 700 }), grpc.status.DEADLINE_EXCEEDED);
      // The unpack worker stops first (it may still be starting on a loaded machine), then its
      // directory goes.
      for (let waited = 0; overlayEntries(daemon.dirs.root, 'tmp').length > 0 && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(overlayEntries(daemon.dirs.root, 'tmp'), [], 'the cancelled download was abandoned and cleaned');
      front.behaviour = {};
      const res = await daemon.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } });
      assert.equal(res.image_ref, imageA.config.digest);
      const status = await daemon.client.runtime('Version', {});
      assert.ok(status.runtime_name);
    } finally {
      front.behaviour = {};
      await daemon.destroy();
    }
  });

  it('a pull its client gives up on is logged as cancelled, not as a failure of the daemon', async () => {
    const daemon = await TestDaemon.start();
    try {
      front.behaviour = { bytesPerSecond: 1024 * 1024 };
      await expectCode(daemon.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } }, { deadlineMs: 700 }), grpc.status.DEADLINE_EXCEEDED);
      const pullLines = () => readDaemonLog(daemon).map((l) => JSON.parse(l) as { rpc?: string; msg?: string; code?: string }).filter((l) => l.rpc === 'PullImage' && l.msg?.startsWith('rpc failed'));
      for (let waited = 0; pullLines().length === 0 && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(pullLines().map((l) => [l.msg, l.code]), [['rpc failed', 'CANCELLED']]);
    } finally {
      front.behaviour = {};
      await daemon.destroy();
    }
  });

  it('keeps downloading for a second pull when the first one\'s client cancels', async () => {
    const daemon = await TestDaemon.start();
    try {
      // About 3 s of download: the second pull joins well before the first leaves, mid-way.
      front.behaviour = { bytesPerSecond: 1024 * 1024 };
      front.blobRequests.clear();
      const leaving = expectCode(daemon.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } }, { deadlineMs: 1500 }), grpc.status.DEADLINE_EXCEEDED);
      await new Promise((r) => setTimeout(r, 150));
      const staying = daemon.client.image('PullImage', { image: { image: `${front.host}/test/b:v1` } });
      await leaving;
      const res = await staying;
      assert.equal(res.image_ref, imageB.config.digest);
      assert.equal(front.count(shared.digest), 1, 'the shared layer download went on for the waiting pull');
      const a = await daemon.client.image('ImageStatus', { image: { image: `${front.host}/test/a:v1` } });
      assert.equal(a.image, null);
    } finally {
      front.behaviour = {};
      await daemon.destroy();
    }
  });

  it('leaves no half image after the daemon is killed mid-pull', async () => {
    const dirs = makeTestDirs();
    try {
      const daemon = await TestDaemon.start({ dirs });
      front.behaviour = { bytesPerSecond: 1024 * 1024 };
      const pulling = daemon.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 800));
      await daemon.kill();
      await pulling;
      front.behaviour = {};
      const again = await TestDaemon.start({ dirs });
      try {
        const status = await again.client.image('ImageStatus', { image: { image: `${front.host}/test/a:v1` } });
        assert.equal(status.image, null);
        assert.deepEqual(overlayEntries(dirs.root, 'tmp'), []);
        assert.deepEqual(overlayEntries(dirs.root, 'layers'), [], 'a layer unpacked before the kill belongs to no image and is collected');
        const res = await again.client.image('PullImage', { image: { image: `${front.host}/test/a:v1` } });
        assert.equal(res.image_ref, imageA.config.digest);
      } finally {
        await again.stop();
      }
    } finally {
      front.behaviour = {};
      removeTestDirs(dirs);
    }
  });
});
