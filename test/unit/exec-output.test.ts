import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ExecProcess, type ExecOutcome } from '../../lib/oci/exec.js';
import type { OciProcess } from '../../lib/oci/types.js';
import { fakeRuntimeBinary } from '../helpers/fake-runtime-binary.js';

const base = mkdtempSync(join(tmpdir(), 'runcri-exec-output-'));
after(() => rmSync(base, { recursive: true, force: true }));

const PROCESS: OciProcess = {
  terminal: false, user: { uid: 0, gid: 0 }, args: ['true'], env: [], cwd: '/',
  capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] }, rlimits: [], noNewPrivileges: true,
};

function fakeRuntime(name: string, body: string): string {
  return fakeRuntimeBinary(base, name, body);
}

function launch(runtimePath: string): ExecProcess {
  return new ExecProcess({ containerId: 'c', runtimePath, runtimeRoot: base, process: PROCESS, dir: mkdtempSync(join(base, 'x')) });
}

function collect(proc: ExecProcess): { out: () => string; err: () => string; exited: Promise<ExecOutcome> } {
  let out = '';
  let err = '';
  proc.stdin!.end();
  proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return { out: () => out, err: () => err, exited: proc.exited };
}

/** Blocks the event loop, as a burst of RPCs and process spawns can. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* busy */ }
}

test('output written before the runtime exited is kept when the event loop stalls past the grace period', async () => {
  // The runtime exits at once; a process it left behind writes 150 ms later and keeps the
  // pipe. The event loop is blocked from 60 ms to 460 ms, past the 200 ms grace that started
  // with the exit, by a callback after this turn's poll of the pipes (as a burst of RPCs
  // blocks it): the next turn runs the due grace timer before it reads what the pipe holds.
  const proc = launch(fakeRuntime('late-writer', '(sleep 0.15; printf 42; sleep 3) &\nexit 0'));
  const run = collect(proc);
  setTimeout(() => setImmediate(() => stall(400)), 60);
  const outcome = await run.exited;
  assert.deepEqual(outcome, { exitCode: 0 });
  assert.equal(run.out(), '42');
});

test('an exec answers once a process it left behind has held the pipes quiet for the grace period', async () => {
  const started = Date.now();
  const proc = launch(fakeRuntime('holder', 'printf out; printf err >&2; sleep 30 &\nexit 3'));
  const run = collect(proc);
  assert.deepEqual(await run.exited, { exitCode: 3 });
  assert.equal(run.out(), 'out');
  assert.equal(run.err(), 'err');
  assert.ok(Date.now() - started < 5000, 'the left-behind sleep did not hold the answer');
});

test('a slow reader loses nothing: the pipes are drained before the exec answers', async () => {
  const proc = launch(fakeRuntime('bulk', 'head -c 1000000 /dev/zero | tr "\\0" x'));
  proc.stdin!.end();
  proc.stderr!.resume();
  let bytes = 0;
  // A client that takes 30 ms per chunk, long after the runtime has exited: the pipe's backpressure holds the rest.
  const client = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      setTimeout(done, 30);
    },
  });
  proc.stdout.pipe(client);
  assert.deepEqual(await proc.exited, { exitCode: 0 });
  await new Promise((r) => client.once('finish', r));
  assert.equal(bytes, 1_000_000);
});

test('a command the runtime could not start answers as a shell would: 127 not found, 126 otherwise', async () => {
  // These record no PID: the process never started.
  const refused = (name: string, message: string) => {
    const path = join(base, name);
    writeFileSync(path, `#!/bin/sh\necho '${message}' >&2\nexit 1\n`, { mode: 0o755 });
    return collect(launch(path)).exited;
  };
  assert.deepEqual(await refused('not-found', 'exec: "nope": executable file not found in $PATH'), { exitCode: 127 });
  assert.deepEqual(await refused('denied', 'exec /etc: permission denied'), { exitCode: 126 });
});
