import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RUN, SpawnHelper, type HelperExit } from '../../lib/process/spawn-helper.js';
import { ensureNativeHelper } from '../helpers/native.js';

let dir: string;
let helper: SpawnHelper;

before(() => {
  helper = new SpawnHelper(ensureNativeHelper('spawn-helper'));
  dir = mkdtempSync('/tmp/rct-spawn-helper-');
});

after(() => {
  helper.close();
  rmSync(dir, { recursive: true, force: true });
});

function sh(script: string, flags: number = RUN.CAPTURE, extra: { input?: string; timeoutMs?: number; cwd?: string } = {}) {
  return helper.run({ file: 'sh', args: ['-c', script], env: { PATH: process.env.PATH, GREETING: 'hello' }, flags, ...extra });
}

function output(exit: HelperExit): { stdout: string; stderr: string } {
  assert.notEqual(exit.kind, 'error', 'the program could not be started');
  return exit.kind === 'error' ? { stdout: '', stderr: '' } : { stdout: exit.stdout.toString(), stderr: exit.stderr.toString() };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('spawn helper', () => {
  it('runs a program found on the PATH it is given, with that environment and working directory, and answers its output and exit status', async () => {
    const proc = sh('echo "$GREETING from $(pwd)"; echo oops >&2; exit 3', RUN.CAPTURE, { cwd: dir });
    assert.ok((await proc.pid) > 0);
    const exit = await proc.exited;
    assert.deepEqual({ kind: exit.kind, value: exit.value }, { kind: 'code', value: 3 });
    assert.deepEqual(output(exit), { stdout: `hello from ${dir}\n`, stderr: 'oops\n' });
  });

  it('feeds the input to the program and gives one that takes none /dev/null', async () => {
    const big = 'x'.repeat(3_000_000);
    assert.equal(output(await sh('wc -c', RUN.CAPTURE | RUN.INPUT, { input: big }).exited).stdout.trim(), String(big.length));
    assert.equal(output(await sh('cat; echo end').exited).stdout, 'end\n');
    const ignored = await sh('exit 0', RUN.CAPTURE | RUN.INPUT, { input: big }).exited;
    assert.deepEqual({ kind: ignored.kind, value: ignored.value }, { kind: 'code', value: 0 });
  });

  it('reports an exec that fails with its errno and message', async () => {
    const exit = await helper.run({ file: join(dir, 'missing'), args: [], env: {}, flags: RUN.CAPTURE }).exited;
    assert.equal(exit.kind, 'error');
    assert.equal(exit.value, osConstants.errno.ENOENT);
    assert.match(exit.kind === 'error' ? exit.message : '', /No such file or directory/);
  });

  it('kills a program at its timeout and says so, and a kill request signals it', async () => {
    const timed = await sh('sleep 10', RUN.CAPTURE, { timeoutMs: 100 }).exited;
    assert.deepEqual({ kind: timed.kind, value: timed.value, timedOut: timed.kind !== 'error' && timed.timedOut }, { kind: 'signal', value: osConstants.signals.SIGKILL, timedOut: true });
    const proc = sh('sleep 10');
    await proc.pid;
    proc.kill(osConstants.signals.SIGTERM);
    const killed = await proc.exited;
    assert.deepEqual({ kind: killed.kind, value: killed.value }, { kind: 'signal', value: osConstants.signals.SIGTERM });
  });

  it('runs many programs at once and answers each its own output', async () => {
    const exits = await Promise.all(Array.from({ length: 30 }, (_, i) => sh(`sleep 0.0$((${i} % 5)); echo ${i}`).exited));
    assert.deepEqual(exits.map((e) => output(e).stdout), Array.from({ length: 30 }, (_, i) => `${i}\n`));
  });

  it('holds a program at its start pipe until released, and answers the first line of its sync pipe even after it exited', async () => {
    const marker = join(dir, 'released');
    const proc = sh(`read -r go <&4; touch ${marker}; (sleep 0.2; echo '{"data": 42}' >&3; echo later >&3; sleep 5) & exit 0`, RUN.SYNC_PIPE | RUN.START_PIPE);
    await sleep(100);
    assert.equal(existsSync(marker), false, 'it went on before its release');
    proc.release();
    assert.equal(await proc.syncLine, '{"data": 42}');
    const exit = await proc.exited;
    assert.deepEqual({ kind: exit.kind, value: exit.value }, { kind: 'code', value: 0 });
    assert.equal(existsSync(marker), true);
  });

  it('answers an empty sync line when the sync pipe closes without one', async () => {
    const proc = sh('exit 1', RUN.SYNC_PIPE);
    assert.equal(await proc.syncLine, '');
    const exit = await proc.exited;
    assert.deepEqual({ kind: exit.kind, value: exit.value }, { kind: 'code', value: 1 });
  });

  it('with an output grace, answers once output left behind has gone quiet instead of waiting for its end', async () => {
    const started = Date.now();
    const exit = await sh('echo before; (sleep 5; echo never) & exit 0', RUN.CAPTURE | RUN.OUTPUT_GRACE).exited;
    assert.ok(Date.now() - started < 2500, `answered after ${Date.now() - started} ms`);
    assert.equal(output(exit).stdout, 'before\n');
    const chatty = await sh('(for i in $(seq 1 100); do echo $i; sleep 0.05; done) & exit 0', RUN.CAPTURE | RUN.OUTPUT_GRACE).exited;
    assert.ok(Date.now() - started < 5500, 'output that goes on is cut off');
    assert.ok(output(chatty).stdout.split('\n').length > 5, 'output written after the exit within the cut-off is kept');
  });

  it('kills the programs still held at their start pipe when its input ends, and leaves the others running', async () => {
    const own = new SpawnHelper(ensureNativeHelper('spawn-helper'));
    const held = own.run({ file: 'sleep', args: ['10'], env: { PATH: process.env.PATH }, flags: RUN.START_PIPE });
    const free = own.run({ file: 'sleep', args: ['10'], env: { PATH: process.env.PATH }, flags: RUN.SETSID });
    const [heldPid, freePid] = await Promise.all([held.pid, free.pid]);
    own.close();
    const deadline = Date.now() + 5000;
    while (alive(heldPid) && readFileSync(`/proc/${heldPid}/stat`, 'utf8').split(' ')[2] !== 'Z' && Date.now() < deadline) await sleep(20);
    assert.ok(!alive(heldPid) || readFileSync(`/proc/${heldPid}/stat`, 'utf8').split(' ')[2] === 'Z', 'a held program outlived the helper');
    assert.ok(alive(freePid), 'a released program was killed with the helper');
    process.kill(freePid, 'SIGKILL');
  });
});
