import test from 'node:test';
import assert from 'node:assert/strict';
import { loadCriProto } from '../../lib/server/proto.js';
import { ListEncoder } from '../../lib/server/list-encoding.js';
import { batchBudget, batchesOf, STREAM_BATCH_BYTES } from '../../lib/server/stream-batches.js';
import { isRuntimeError } from '../../lib/errors/index.js';

const service = loadCriProto().runtime.v1.RuntimeService.service;
const list = service.ListContainers!;
const stream = service.StreamContainers!;

interface Item { id: string; state: 'CONTAINER_RUNNING' | 'CONTAINER_EXITED'; labels: Record<string, string> }
const toWire = (i: Item) => ({ id: i.id, pod_sandbox_id: 'p', state: i.state, labels: i.labels, created_at: '1800000000123456789', metadata: { name: i.id, attempt: 1 } });

function items(n: number): Item[] {
  return Array.from({ length: n }, (_, k): Item => ({ id: `c${k}`.padEnd(64, '0'), state: k % 3 ? 'CONTAINER_RUNNING' : 'CONTAINER_EXITED', labels: { k: String(k), pad: 'x'.repeat(k % 97) } }));
}

test('stream batches hold the items of the List answer in order, each within the budget', () => {
  const all = items(3000);
  const encoder = new ListEncoder<Item, ReturnType<typeof toWire>>((w) => list.responseSerialize({ containers: [w] }), toWire, (i) => i.state);
  const budget = 64 * 1024;
  const batches = [...batchesOf(all.map((i) => encoder.encodeItem(i)), budget, 16 * 1024 * 1024)];
  assert.ok(batches.length > 1, 'several batches');
  for (const b of batches) assert.ok(b.length <= budget, `batch of ${b.length} bytes is over ${budget}`);
  assert.deepEqual(Buffer.concat(batches), encoder.encode(all), 'the batches are the List answer cut in pieces');
  const streamed = batches.flatMap((b) => (stream.responseDeserialize(b) as { containers: { id: string }[] }).containers.map((c) => c.id));
  assert.deepEqual(streamed, all.map((i) => i.id));
});

test('an empty list streams no batch at all', () => {
  assert.deepEqual([...batchesOf([], 1024, 4096)], []);
});

test('an item larger than the budget travels alone; one over the message limit is RESOURCE_EXHAUSTED', () => {
  const small = Buffer.alloc(10, 1);
  const big = Buffer.alloc(3000, 2);
  assert.deepEqual([...batchesOf([small, big, small], 1000, 4096)].map((b) => b.length), [10, 3000, 10]);
  assert.throws(() => [...batchesOf([small, Buffer.alloc(5000)], 1000, 4096)], (err: unknown) => isRuntimeError(err) && err.kind === 'resource_exhausted');
});

test('the batch budget is half the message limit, never over a MiB', () => {
  assert.equal(batchBudget(16 * 1024 * 1024), STREAM_BATCH_BYTES);
  assert.equal(batchBudget(1000), 500);
  assert.equal(batchBudget(1), 1);
});
