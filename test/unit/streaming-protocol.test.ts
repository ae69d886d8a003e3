import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonObjectSplitter, encodeOutcome, parseTerminalSize, statusErrorEncoding } from '../../lib/streaming/protocol.js';
import { expectedSpdyStreams } from '../../lib/streaming/spdy-remote-command.js';
import { TokenStore } from '../../lib/streaming/tokens.js';
import { ResourceExhaustedError } from '../../lib/errors/index.js';

test('v4 and v5 report the exit as a Status; older protocols as text, nothing on success', () => {
  assert.equal(statusErrorEncoding('v4.channel.k8s.io'), 'status');
  assert.equal(statusErrorEncoding('v5.channel.k8s.io'), 'status');
  assert.equal(statusErrorEncoding('v4.base64.channel.k8s.io'), 'status');
  assert.equal(statusErrorEncoding('v3.channel.k8s.io'), 'text');
  assert.equal(statusErrorEncoding('channel.k8s.io'), 'text');
  assert.deepEqual(JSON.parse(encodeOutcome({ exitCode: 0 }, 'status', ['true'])!.toString()), { metadata: {}, status: 'Success' });
  const failure = JSON.parse(encodeOutcome({ exitCode: 3 }, 'status', ['sh'])!.toString());
  assert.equal(failure.reason, 'NonZeroExitCode');
  assert.deepEqual(failure.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  assert.equal(encodeOutcome({ exitCode: 0 }, 'text', ['true']), null);
  assert.match(encodeOutcome({ exitCode: 3 }, 'text', ['sh'])!.toString(), /exit code 3/);
  assert.equal(JSON.parse(encodeOutcome({ error: 'boom' }, 'status', [])!.toString()).reason, 'InternalError');
});

test('resize messages: concatenated JSON objects split whole, bad sizes ignored', () => {
  const s = new JsonObjectSplitter();
  assert.deepEqual(s.push('{"Width":80,"Hei'), []);
  assert.deepEqual(s.push('ght":24}\n{"Width":100,"Height":30}{"W'), ['{"Width":80,"Height":24}', '{"Width":100,"Height":30}']);
  assert.deepEqual(parseTerminalSize('{"Width":80,"Height":24}'), { width: 80, height: 24 });
  assert.equal(parseTerminalSize('{"Width":-1,"Height":24}'), undefined);
  assert.equal(parseTerminalSize('{"Width":"80","Height":24}'), undefined);
  assert.equal(parseTerminalSize('nope'), undefined);
});

test('the streams a SPDY client must open follow Kubernetes\' rule', () => {
  assert.deepEqual(expectedSpdyStreams('v4.channel.k8s.io', { stdin: true, stdout: true, stderr: false, tty: true }), ['error', 'stdin', 'stdout', 'resize']);
  assert.deepEqual(expectedSpdyStreams('v2.channel.k8s.io', { stdin: false, stdout: true, stderr: true, tty: false }), ['error', 'stdout', 'stderr']);
  assert.deepEqual(expectedSpdyStreams('v2.channel.k8s.io', { stdin: true, stdout: true, stderr: false, tty: true }), ['error', 'stdin', 'stdout']);
});

test('tokens are single use, expire after their TTL and are bounded in number', () => {
  let now = 1000;
  const store = new TokenStore<string>({ ttlMs: 60_000, maxOutstanding: 3 }, () => now);
  const a = store.issue('a');
  assert.match(a, /^[A-Za-z0-9_-]{24}$/);
  assert.equal(store.consume(a), 'a');
  assert.equal(store.consume(a), undefined);
  assert.equal(store.consume('unknown'), undefined);
  const b = store.issue('b');
  now += 60_000;
  assert.equal(store.consume(b), undefined);
  store.issue('c');
  store.issue('d');
  store.issue('e');
  assert.throws(() => store.issue('f'), ResourceExhaustedError);
  now += 60_000;
  // expired ones make room again
  assert.doesNotThrow(() => store.issue('g'));
  assert.equal(store.size, 1);
});
