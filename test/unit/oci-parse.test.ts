import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { parseSyncMessage, syncMessages } from '../../lib/oci/sync-pipe.js';

test('conmon sync messages: API v1 `data`, the older `pid`, and a failure message', async () => {
  assert.deepEqual(parseSyncMessage('{"data": 42}'), { data: 42 });
  assert.deepEqual(parseSyncMessage('{"pid": 7}'), { data: 7 });
  assert.deepEqual(parseSyncMessage('{"data": -1, "message": "exec failed"}'), { data: -1, message: 'exec failed' });
  const got = [];
  for await (const m of syncMessages(Readable.from([Buffer.from('{"data": 1'), Buffer.from('2}\n{"data": 0}\n')]))) got.push(m);
  assert.deepEqual(got, [{ data: 12 }, { data: 0 }]);
});
