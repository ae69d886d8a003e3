import test from 'node:test';
import assert from 'node:assert/strict';
import { loadCriProto } from '../../lib/server/proto.js';
import { nanosToWire, wireToNanos, rfc3339Nano } from '../../lib/util/time.js';

const BIG = '1800000000123456789';

test('int64 timestamps survive the CRI codec exactly, both ways', () => {
  const method = loadCriProto().runtime.v1.RuntimeService.service.ContainerStatus!;
  const bytes = method.responseSerialize({ status: { id: 'c', created_at: BIG, started_at: BIG, finished_at: '-1' } });
  const decoded = method.responseDeserialize(bytes) as { status: { created_at: string; started_at: string; finished_at: string } };
  assert.equal(decoded.status.created_at, BIG);
  assert.equal(decoded.status.started_at, BIG);
  assert.equal(decoded.status.finished_at, '-1');
  // A number would have rounded it: this is the failure the string form avoids.
  assert.notEqual(String(Number(BIG)), BIG);
});

test('uint64 fields survive the codec exactly', () => {
  const method = loadCriProto().runtime.v1.ImageService.service.ImageFsInfo!;
  const huge = '18446744073709551615';
  const bytes = method.responseSerialize({ image_filesystems: [{ timestamp: BIG, used_bytes: { value: huge }, inodes_used: { value: '1' } }] });
  const decoded = method.responseDeserialize(bytes) as { image_filesystems: { timestamp: string; used_bytes: { value: string } }[] };
  assert.equal(decoded.image_filesystems[0]!.used_bytes.value, huge);
  assert.equal(decoded.image_filesystems[0]!.timestamp, BIG);
});

test('nanosecond values convert between bigint and the wire without loss', () => {
  assert.equal(nanosToWire(wireToNanos(BIG)), BIG);
  assert.equal(wireToNanos(''), 0n);
  assert.equal(wireToNanos(undefined), 0n);
  assert.equal(rfc3339Nano(1800000000123456789n), '2027-01-15T08:00:00.123456789Z');
});
