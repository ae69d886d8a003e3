import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AlreadyExistsError, isRuntimeError } from '../../lib/errors/index.js';
import type { CreateContainerRequest__Output } from '../../lib/generated/runtime/v1/CreateContainerRequest.js';
import type { Mount__Output } from '../../lib/generated/runtime/v1/Mount.js';
import { createRequest, harness, log, never } from '../helpers/lifecycle-harness.js';
import { FakeOciRuntime } from '../helpers/fake-oci-runtime.js';
import { seededRandom } from '../helpers/random.js';


for (const seed of [1, 2, 3]) {
  test(`50 concurrent Stop, Remove and Status calls on each of 5 containers end with each removed once and each event once (seed ${seed})`, async () => {
    const h = await harness(seed);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = await h.creator.create(createRequest(`c${i}`), never, log);
      await h.lifecycle.start(id, log);
      ids.push(id);
    }
    const random = seededRandom(seed * 7919);
    const calls: Promise<unknown>[] = [];
    for (const id of ids) {
      for (let n = 0; n < 50; n++) {
        const pick = random();
        if (pick < 0.35) calls.push(h.lifecycle.stopContainer(id, random() < 0.5 ? 0 : 1, log));
        else if (pick < 0.7) calls.push(h.lifecycle.remove(id, log));
        // Status: the container whole, or NOT_FOUND once removed; never anything between.
        else calls.push(Promise.resolve().then(() => h.lifecycle.get(id)).catch((err: unknown) => {
          if (!(isRuntimeError(err) && err.kind === 'not_found')) throw err;
        }));
      }
    }
    await Promise.all(calls);
    for (const id of ids) await h.lifecycle.remove(id, log);
    for (const id of ids) {
      const mine = h.events.filter((e) => e.containerId === id).map((e) => e.type);
      assert.deepEqual(mine, ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'], id);
      assert.equal(h.fake.calls.filter((c) => c === `delete:${id}`).length, 1, `${id} deleted from its runtime once`);
    }
    assert.deepEqual(h.lifecycle.list(), []);
    assert.deepEqual(h.store.table('containers').all(), []);
    assert.equal(h.fake.containers.size, 0);
    // The names are free again.
    for (let i = 0; i < 5; i++) await h.creator.create(createRequest(`c${i}`), never, log);
    h.store.close();
  });
}

test('concurrent creates of one name: one container, the others ALREADY_EXISTS naming it, one CREATED event', async () => {
  const h = await harness(4);
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => h.creator.create(createRequest('same'), never, log)));
  const made = results.filter((r): r is PromiseFulfilledResult<string> => r.status === 'fulfilled').map((r) => r.value);
  assert.equal(made.length, 1);
  for (const r of results) {
    if (r.status === 'rejected') {
      assert.ok(r.reason instanceof AlreadyExistsError);
      assert.match((r.reason as Error).message, new RegExp(made[0]!));
    }
  }
  assert.deepEqual(h.events, [{ type: 'CONTAINER_CREATED_EVENT', containerId: made[0]! }]);
  h.store.close();
});

test('a create the runtime refuses leaves nothing: no record, no root filesystem, the name free', async () => {
  const h = await harness(5, true);
  await assert.rejects(h.creator.create(createRequest('refused'), never, log), /the runtime refused/);
  assert.deepEqual(h.store.table('containers').all(), []);
  assert.deepEqual(h.lifecycle.list(), []);
  assert.deepEqual(h.events, []);
  h.fake.create = FakeOciRuntime.prototype.create;
  const id = await h.creator.create(createRequest('refused'), never, log);
  assert.equal(h.lifecycle.get(id).metadata.name, 'refused');
  h.store.close();
});

test('an exit noticed by many readers at once is recorded once, with its code', async () => {
  const h = await harness(6);
  const id = await h.creator.create(createRequest('exits'), never, log);
  await h.lifecycle.start(id, log);
  const reads = Array.from({ length: 20 }, () => new Promise<void>((r) => setImmediate(() => {
    h.lifecycle.list();
    h.lifecycle.get(id);
    r();
  })));
  h.fake.exit(id, 3);
  await Promise.all(reads);
  const c = h.lifecycle.get(id);
  assert.equal(c.state, 'CONTAINER_EXITED');
  assert.equal(c.exitCode, 3);
  assert.equal(c.reason, 'Error');
  assert.equal(h.events.filter((e) => e.type === 'CONTAINER_STOPPED_EVENT').length, 1);
  h.store.close();
});

function imageMount(image: string, extra: Partial<Mount__Output> = {}): Mount__Output {
  return {
    container_path: '/data', host_path: '', readonly: true, selinux_relabel: false, propagation: 'PROPAGATION_PRIVATE', uidMappings: [], gidMappings: [],
    recursive_read_only: false, image: { image, annotations: {}, user_specified_image: image, runtime_handler: '', image_ref: '' }, image_sub_path: '', mount_options: [], ...extra,
  };
}

function withMounts(name: string, mounts: Mount__Output[]): CreateContainerRequest__Output {
  const req = createRequest(name);
  req.config!.mounts = mounts;
  return req;
}

test('an image volume becomes a read-only private bind of the image mounted for the container, recorded on it, and released with it', async () => {
  const h = await harness(5);
  const id = await h.creator.create(withMounts('vol', [imageMount('test/data:v1', { readonly: false, image_sub_path: 'data' })]), never, log);
  const [mountPoint] = h.volumes.get(id)!;
  const bind = h.fake.spec(id)!.mounts!.find((m) => m.destination === '/data');
  assert.deepEqual(bind, { destination: '/data', type: 'bind', source: join(mountPoint!, 'data'), options: ['rbind', 'rprivate', 'ro'] }, 'read-only even when the request says otherwise, at the sub path');
  const record = h.lifecycle.get(id);
  assert.deepEqual(record.imageVolumes, [{ image: 'test/data:v1', imageId: 'sha256:2', containerPath: '/data' }]);
  assert.equal(record.mounts[0]!.image!.image, 'test/data:v1', 'the status keeps the mount as requested');
  await h.lifecycle.start(id, log);
  await h.lifecycle.remove(id, log);
  assert.equal(h.volumes.has(id), false, 'removal released the volume');
  h.store.close();
});

test('an image volume of an image not on the node is NOT_FOUND, a bad one INVALID_ARGUMENT, and neither leaves a volume or a container', async () => {
  const h = await harness(6);
  const cases: [Mount__Output, string, RegExp][] = [
    [imageMount('test/absent:v1'), 'not_found', /image "test\/absent:v1" does not exist on the node/],
    [imageMount('test/data:v1', { host_path: '/etc' }), 'invalid_argument', /an image volume has no host_path/],
    [imageMount('test/data:v1', { image_sub_path: '../etc' }), 'invalid_argument', /must be a relative path inside the image/],
    [imageMount('test/data:v1', { image_sub_path: 'data/layers' }), 'invalid_argument', /is not a directory/],
    [imageMount('test/data:v1', { image_sub_path: 'nothing' }), 'not_found', /sub path "nothing" does not exist in image volume "test\/data:v1"/],
  ];
  for (const [i, [mount, kind, message]] of cases.entries()) {
    await assert.rejects(h.creator.create(withMounts(`bad${i}`, [mount]), never, log), (err: unknown) => isRuntimeError(err) && err.kind === kind && message.test(err.message));
  }
  assert.deepEqual(h.lifecycle.list(), []);
  assert.equal(h.volumes.size, 0, 'every mounted volume was released');
  h.store.close();
});
