import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointArgs, restoreConmonArgs } from '../../lib/oci/checkpoint.js';
import { CheckpointSupportCache, probeCheckpointSupport, programWords } from '../../lib/oci/criu.js';

/** A stand-in program: appends its arguments to `calls`, then runs `body`. */
function program(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\necho "${name} $*" >> ${join(dir, 'calls')}\n${body}\n`, { mode: 0o755 });
  return path;
}

const VDSO = 'Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\nError (criu/crtools.c:260): Could not initialize kernel features detection.';

test('checkpoint support is refused with the words of the first program that fails: the runtime, then criu, then criu check', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runcri-criu-'));
  const runc = program(dir, 'runc', 'exit 0');
  const noCheckpoint = program(dir, 'crun', 'echo "unknown command checkpoint" >&2; exit 1');
  const criuOk = program(dir, 'criu-ok', '[ "$1" = --version ] && echo "Version: 3.19"; exit 0');
  const criuVdso = program(dir, 'criu-vdso', `[ "$1" = --version ] && { echo "Version: 3.17.1"; exit 0; }; printf '%s\\n' "${VDSO}" >&2; exit 1`);

  assert.deepEqual(await probeCheckpointSupport(runc, { criu: criuOk }), { usable: true, reason: '', criuVersion: 'Version: 3.19' });
  const vdso = await probeCheckpointSupport(runc, { criu: criuVdso });
  assert.equal(vdso.usable, false);
  assert.equal(vdso.criuVersion, 'Version: 3.17.1');
  assert.equal(vdso.reason, `CRIU cannot checkpoint on this node: \`criu check\` failed: ${VDSO.split('\n').join('; ')}`);
  const crun = await probeCheckpointSupport(noCheckpoint, { criu: criuOk });
  assert.match(crun.reason, /cannot checkpoint containers: .* says: unknown command checkpoint/);
  const none = await probeCheckpointSupport(runc, { criu: join(dir, 'no-criu') });
  assert.match(none.reason, /^CRIU cannot be run on this node: /);
  rmSync(dir, { recursive: true });
});

test('the verdict is found once per runtime binary and shared by concurrent askers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runcri-criu-'));
  const runc = program(dir, 'runc', 'sleep 0.1; exit 0');
  const criu = program(dir, 'criu', 'exit 0');
  const cache = new CheckpointSupportCache();
  const verdicts = await Promise.all(Array.from({ length: 5 }, () => cache.of(runc, criu)));
  await cache.of(runc, criu);
  assert.ok(verdicts.every((v) => v.usable));
  const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');
  assert.deepEqual(calls, ['runc checkpoint --help', 'criu --version', 'criu check']);
  rmSync(dir, { recursive: true });
});

test('a program\'s words are its stderr, else its stdout, one line', () => {
  assert.equal(programWords('  first\n\n second \n'), 'first; second');
  assert.equal(programWords('', 'only stdout\n'), 'only stdout');
});

test('runc checkpoint keeps the container running on request, and a restore is told the same state options the dump used', () => {
  assert.deepEqual(checkpointArgs('c1', { imagePath: '/w/checkpoint', workPath: '/w', leaveRunning: true }),
    ['checkpoint', '--image-path', '/w/checkpoint', '--work-path', '/w', '--leave-running', '--tcp-established', '--file-locks', 'c1']);
  assert.deepEqual(checkpointArgs('c1', { imagePath: '/i', workPath: '/w', leaveRunning: false }), ['checkpoint', '--image-path', '/i', '--work-path', '/w', '--tcp-established', '--file-locks', 'c1']);
  assert.deepEqual(restoreConmonArgs('/r/checkpoint'), ['--restore', '/r/checkpoint', '--runtime-opt', '--tcp-established', '--runtime-opt', '--file-locks']);
});
