import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecProcess } from '../../lib/oci/exec.js';
import type { OciProcess } from '../../lib/oci/types.js';
import { fakeRuntimeBinary } from '../helpers/fake-runtime-binary.js';
import { ensureNativeHelper } from '../helpers/native.js';

const base = mkdtempSync(join(tmpdir(), 'runcri-exec-terminal-'));
after(() => rmSync(base, { recursive: true, force: true }));

const PROCESS: OciProcess = {
  terminal: true, user: { uid: 0, gid: 0 }, args: ['sh'], env: [], cwd: '/',
  capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] }, rlimits: [], noNewPrivileges: true,
};

/*
 * A tty exec runs the runtime on a terminal of runcri's helper (native/pty-exec), which sets
 * every size it is sent on that terminal (runc copies it to the container's console at its
 * start and on each SIGWINCH after). A stand-in runtime here prints the size its terminal has
 * a moment after it starts; the size is sent the moment the exec is made, before the helper
 * has even started, as a client that resizes at once makes the exec session do.
 */
test('a terminal size sent the moment a tty exec starts reaches the command', async () => {
  const ptyHelper = ensureNativeHelper('pty-exec');
  const runtime = fakeRuntimeBinary(base, 'prints-its-size', 'sleep 0.2; stty size');
  for (let i = 0; i < 15; i++) {
    const proc = new ExecProcess({ containerId: 'c', runtimePath: runtime, runtimeRoot: base, process: PROCESS, dir: mkdtempSync(join(base, 'x')), ptyHelper });
    proc.resize({ width: 90 + i, height: 30 + i });
    let output = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    assert.deepEqual(await proc.exited, { exitCode: 0 });
    assert.equal(output.trim(), `${30 + i} ${90 + i}`);
  }
});

test('a tty exec ends its terminal input at the client\'s end of input, and the latest size wins', async () => {
  const ptyHelper = ensureNativeHelper('pty-exec');
  const runtime = fakeRuntimeBinary(base, 'reads-then-prints', 'while read line; do echo "got $line"; done\nstty size\nexit 4');
  const proc = new ExecProcess({ containerId: 'c', runtimePath: runtime, runtimeRoot: base, process: PROCESS, dir: mkdtempSync(join(base, 'x')), ptyHelper });
  let output = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  proc.resize({ width: 10, height: 5 });
  proc.resize({ width: 120, height: 40 });
  proc.stdin!.end('one\ntwo\n');
  assert.deepEqual(await proc.exited, { exitCode: 4 });
  assert.match(output, /got one\r?\n/);
  assert.match(output, /got two\r?\n/);
  assert.match(output, /40 120\s*$/);
});
