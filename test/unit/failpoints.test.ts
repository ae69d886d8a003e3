/**
 * The failpoint facility reads RUNCRI_FAILPOINTS once, when it loads: each case runs in a
 * fresh Node process of its own with the variable set, and reports what happened as JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const MODULE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'failpoints', 'index.js')).href;

function runWith(spec: string | undefined, body: string): { status: number | null; signal: NodeJS.Signals | null; out: unknown; stderr: string } {
  const env = { ...process.env };
  delete env.RUNCRI_FAILPOINTS;
  if (spec !== undefined) env.RUNCRI_FAILPOINTS = spec;
  const script = `const fp = await import(${JSON.stringify(MODULE)});\nconst attempt = (name) => { try { fp.failpoint(name); return 'passed'; } catch (e) { return e.message; } };\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 20_000 });
  const line = r.stdout.trim().split('\n').pop();
  return { status: r.status, signal: r.signal, out: line ? JSON.parse(line) : undefined, stderr: r.stderr };
}

test('without RUNCRI_FAILPOINTS every failpoint passes and none is armed', () => {
  const r = runWith(undefined, `console.log(JSON.stringify({ armed: fp.armedFailpoints(), results: fp.FAILPOINTS.map((f) => attempt(f.name)) }));`);
  assert.equal(r.status, 0, r.stderr);
  const out = r.out as { armed: string[]; results: string[] };
  assert.deepEqual(out.armed, []);
  assert.ok(out.results.length >= 16 && out.results.every((x) => x === 'passed'), JSON.stringify(out.results));
});

test('N*error fails the first N passes with an error naming the failpoint, then lets the step through; others are untouched', () => {
  const r = runWith('sandbox.run.after-cni-add=2*error', `console.log(JSON.stringify({ armed: fp.armedFailpoints(), results: [1, 2, 3].map(() => attempt('sandbox.run.after-cni-add')), other: attempt('sandbox.run.after-netns-pin') }));`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out, {
    armed: ['sandbox.run.after-cni-add=2*error'],
    results: ['failpoint sandbox.run.after-cni-add: injected failure', 'failpoint sandbox.run.after-cni-add: injected failure', 'passed'],
    other: 'passed',
  });
});

test('error without a count fails at every pass', () => {
  const r = runWith('image.pull.mid-commit=error', `console.log(JSON.stringify([1, 2, 3].map(() => attempt('image.pull.mid-commit'))));`);
  assert.deepEqual(r.out, Array(3).fill('failpoint image.pull.mid-commit: injected failure'));
});

test('kill ends the process with SIGKILL right at the failpoint, saying which one on stderr', () => {
  const r = runWith('container.create.after-conmon-start=kill', `attempt('container.create.after-conmon-start'); console.log('"survived"');`);
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(r.out, undefined);
  assert.match(r.stderr, /"failpoint":"container\.create\.after-conmon-start"/);
});

test('an unknown name or action is refused when the daemon asks what is armed, so a typo never tests nothing', () => {
  const r = runWith('sandbox.run.after-cni-ad=error,image.pull.mid-commit=explode', `try { fp.armedFailpoints(); console.log('"accepted"'); } catch (e) { console.log(JSON.stringify(e.message)); }`);
  assert.match(String(r.out), /unknown failpoint "sandbox\.run\.after-cni-ad"/);
  assert.match(String(r.out), /failpoint image\.pull\.mid-commit: expected error, N\*error or kill/);
});

test('1*error counts passes across worker threads: an unpack worker that fails it uses it up for the daemon', () => {
  const r = runWith('image.pull.mid-layer-unpack=1*error', `
const { Worker } = await import('node:worker_threads');
const code = \`(async () => { const fp = await import(\${JSON.stringify(${JSON.stringify(MODULE)})}); const { parentPort } = await import('node:worker_threads'); try { fp.failpoint('image.pull.mid-layer-unpack'); parentPort.postMessage('passed'); } catch (e) { parentPort.postMessage(e.message); } })();\`;
const inWorker = await new Promise((resolve, reject) => { const w = new Worker(code, { eval: true }); w.once('message', resolve); w.once('error', reject); });
console.log(JSON.stringify({ inWorker, inMain: attempt('image.pull.mid-layer-unpack') }));`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out, { inWorker: 'failpoint image.pull.mid-layer-unpack: injected failure', inMain: 'passed' });
});
