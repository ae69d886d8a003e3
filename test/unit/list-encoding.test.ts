import test from 'node:test';
import assert from 'node:assert/strict';
import { loadCriProto } from '../../lib/server/proto.js';
import { ListEncoder } from '../../lib/server/list-encoding.js';

const method = loadCriProto().runtime.v1.RuntimeService.service.ListContainers!;

type State = 'CONTAINER_RUNNING' | 'CONTAINER_EXITED';
interface Item { id: string; state: State; labels: Record<string, string> }
const toWire = (i: Item) => ({ id: i.id, state: i.state, labels: i.labels, created_at: '1800000000123456789', metadata: { name: i.id, attempt: 1 } });

test('a list encoded item by item is byte for byte the list encoded whole', () => {
  const items: Item[] = Array.from({ length: 50 }, (_, n): Item => ({ id: `c${n}`, state: n % 2 ? 'CONTAINER_RUNNING' : 'CONTAINER_EXITED', labels: { n: String(n) } }));
  const encoder = new ListEncoder<Item, ReturnType<typeof toWire>>((w) => method.responseSerialize({ containers: [w] }), toWire, (i) => i.state);
  const whole = method.responseSerialize({ containers: items.map(toWire) });
  assert.deepEqual(encoder.encode(items), whole);
  assert.deepEqual(encoder.encode([]), method.responseSerialize({ containers: [] }));
});

test('an item is encoded again when its version changes, and only then', () => {
  let encodes = 0;
  const encoder = new ListEncoder<Item, ReturnType<typeof toWire>>((w) => { encodes++; return method.responseSerialize({ containers: [w] }); }, toWire, (i) => i.state);
  const item: Item = { id: 'c', state: 'CONTAINER_RUNNING', labels: {} };
  encoder.encode([item]);
  encoder.encode([item]);
  assert.equal(encodes, 1);
  item.state = 'CONTAINER_EXITED';
  const bytes = encoder.encode([item]);
  assert.equal(encodes, 2);
  const decoded = method.responseDeserialize(bytes) as { containers: { state: string }[] };
  assert.equal(decoded.containers[0]!.state, 'CONTAINER_EXITED');
});
