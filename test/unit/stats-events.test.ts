import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerEventBus, type ContainerEvent } from '../../lib/stats/index.js';
import { silentLogger } from '../../lib/log/index.js';

const ev = (containerId: string, type: ContainerEvent['type'] = 'CONTAINER_CREATED_EVENT'): ContainerEvent => ({ type, containerId, podId: 'p', createdAt: 1n });

describe('container event bus', () => {
  it('delivers events in order to every subscriber', async () => {
    const bus = new ContainerEventBus({ capacity: 10, log: silentLogger() });
    const a = bus.subscribe();
    const b = bus.subscribe();
    bus.publish(ev('1', 'CONTAINER_CREATED_EVENT'));
    bus.publish(ev('1', 'CONTAINER_STARTED_EVENT'));
    for (const sub of [a, b]) {
      assert.equal((await sub.next())?.type, 'CONTAINER_CREATED_EVENT');
      assert.equal((await sub.next())?.type, 'CONTAINER_STARTED_EVENT');
    }
  });

  it('wakes a waiting subscriber when an event is published', async () => {
    const bus = new ContainerEventBus({ capacity: 10, log: silentLogger() });
    const sub = bus.subscribe();
    const pending = sub.next();
    bus.publish(ev('x'));
    assert.equal((await pending)?.containerId, 'x');
  });

  it('drops for a subscriber that does not read, counting each loss, while the others get everything', async () => {
    let drops = 0;
    const bus = new ContainerEventBus({ capacity: 3, log: silentLogger(), onDrop: () => drops++ });
    const slow = bus.subscribe();
    const fast = bus.subscribe();
    const got: string[] = [];
    for (let i = 0; i < 10; i++) {
      bus.publish(ev(String(i)));
      got.push((await fast.next())!.containerId);
    }
    assert.deepEqual(got, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.equal(slow.dropped, 7);
    assert.equal(drops, 7);
    assert.equal(slow.pending, 3);
    assert.equal((await slow.next())?.containerId, '0', 'the slow one keeps the oldest, in order');
  });

  it('captures the snapshot once per event, at publish time, and survives a snapshotter that throws', async () => {
    const bus = new ContainerEventBus({ capacity: 10, log: silentLogger() });
    let calls = 0;
    bus.setSnapshotter((e) => {
      calls++;
      if (e.containerId === 'bad') throw new Error('boom');
      return { containersStatuses: [{ id: e.containerId }] };
    });
    const a = bus.subscribe();
    const b = bus.subscribe();
    bus.publish(ev('good'));
    bus.publish(ev('bad'));
    assert.equal(calls, 2);
    assert.deepEqual((await a.next())?.snapshot?.containersStatuses, [{ id: 'good' }]);
    await b.next();
    const bad = await b.next();
    assert.equal(bad?.containerId, 'bad');
    assert.equal(bad?.snapshot, undefined);
  });

  it('ends a waiting subscriber on abort or close, and forgets closed subscribers', async () => {
    const bus = new ContainerEventBus({ capacity: 10, log: silentLogger() });
    const controller = new AbortController();
    const sub = bus.subscribe();
    const pending = sub.next(controller.signal);
    controller.abort();
    assert.equal(await pending, undefined);
    const other = bus.subscribe();
    const waiting = other.next();
    assert.equal(bus.subscriberCount, 2);
    bus.close();
    assert.equal(await waiting, undefined);
    assert.equal(bus.subscriberCount, 0);
    bus.publish(ev('after'));
    assert.equal(await sub.next(), undefined);
  });
});
