import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { OciRuntime, descendants } from '../../lib/oci/index.js';
import type { OciSpec } from '../../lib/oci/index.js';
import { makeBusyboxRootfs } from '../helpers/busybox-bundle.js';
import { removeCgroupTree, unmountBelow } from '../helpers/system.js';

let base: string;
let rt: OciRuntime;
let rootfs: string;
const created: string[] = [];

function spec(args: string[], extra: Partial<OciSpec['linux']> = {}): OciSpec {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin'], cwd: '/',
      capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }], noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: [] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] },
    ],
    annotations: {},
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }], resources: { devices: [{ allow: false, access: 'rwm' }] }, cgroupsPath: `/runcri-test/${Date.now()}-${created.length}`, devices: [], ...extra },
  };
}

async function run(id: string, args: string[], extra: Partial<OciSpec['linux']> = {}): Promise<{ bundle: string; logPath: string; persist: string; pid: number }> {
  const bundle = join(base, 'bundles', id);
  const persist = join(base, 'persist', id);
  mkdirSync(bundle, { recursive: true });
  mkdirSync(persist, { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec(args, extra)));
  const logPath = join(base, `${id}.log`);
  created.push(id);
  const pid = await rt.create({ id, name: id, bundle, logPath, persistDir: persist, terminal: false, stdin: false, stdinOnce: false });
  await rt.start(id);
  return { bundle, logPath, persist, pid };
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(() => {
  base = mkdtempSync('/tmp/rct-oci-');
  rootfs = makeBusyboxRootfs(base);
  rt = new OciRuntime({
    runtimePath: '/usr/sbin/runc', runtimeRoot: join(base, 'runc'), conmonPath: '/usr/bin/conmon',
    exitDir: join(base, 'exits'), socketDir: join(base, 'sock'), execDir: join(base, 'exec'), log: pino({ level: 'silent' }),
  });
});

after(async () => {
  for (const id of created) {
    await rt.kill(id, 'KILL').catch(() => undefined);
    await rt.delete(id).catch(() => undefined);
  }
  unmountBelow(base);
  rmSync(base, { recursive: true, force: true });
  removeCgroupTree('runcri-test');
});

test('a container started through conmon writes a CRI log with partial lines and its exit code to the exit file', async () => {
  const { logPath } = await run('logs', ['sh', '-c', 'echo hello; printf partial; echo oops >&2; exit 3']);
  await waitFor(() => existsSync(rt.exitFile('logs')));
  await waitFor(() => readFileSync(rt.exitFile('logs'), 'utf8') !== '');
  assert.equal(readFileSync(rt.exitFile('logs'), 'utf8').trim(), '3');
  const lines = readFileSync(logPath, 'utf8').trim().split('\n');
  const re = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-Z][\d:]* (stdout|stderr) (P|F) /;
  for (const l of lines) assert.match(l, re);
  assert.ok(lines.some((l) => / stdout F hello$/.test(l)));
  assert.ok(lines.some((l) => / stdout P partial$/.test(l)));
  assert.ok(lines.some((l) => / stderr F oops$/.test(l)));
});

test('exec-sync separates stdout and stderr and returns the exit code; a missing binary is a non-zero answer', async () => {
  const { bundle } = await run('exec', ['sleep', '1000']);
  const base = spec([]).process;
  const r = await rt.execSync({ id: 'exec', bundle, process: { ...base, args: ['sh', '-c', 'echo out; echo err >&2; exit 7'] }, timeoutMs: 10_000, outputCap: 1 << 20 });
  assert.equal(r.exitCode, 7);
  assert.equal(r.stdout.toString(), 'out\n');
  assert.equal(r.stderr.toString(), 'err\n');
  const missing = await rt.execSync({ id: 'exec', bundle, process: { ...base, args: ['/no/such/binary'] }, timeoutMs: 10_000, outputCap: 1 << 20 });
  assert.notEqual(missing.exitCode, 0);
});

test('exec-sync past its timeout kills the whole process tree and answers with what it captured', async () => {
  const { bundle, pid } = await run('exectimeout', ['sleep', '1000']);
  const started = Date.now();
  const r = await rt.execSync({ id: 'exectimeout', bundle, process: { ...spec([]).process, args: ['sh', '-c', 'echo before; sleep 100 & sleep 100; echo never'] }, timeoutMs: 500, outputCap: 1 << 20 });
  assert.ok(Date.now() - started < 5000);
  assert.equal(r.timedOut, true);
  assert.notEqual(r.exitCode, 0);
  assert.equal(r.stdout.toString(), 'before\n');
  // Killed processes may linger as zombies of the container's own init (`sleep` never reaps); none may still run.
  const alive = () => descendants(pid).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  });
  await waitFor(() => alive().length === 0, 3000);
});

test('reopening the log makes conmon write to a fresh file after a rename', async () => {
  const { bundle, logPath } = await run('reopen', ['sh', '-c', 'while true; do echo tick; sleep 0.1; done']);
  await waitFor(() => existsSync(logPath) && readFileSync(logPath, 'utf8').includes('tick'));
  renameSync(logPath, `${logPath}.1`);
  await rt.reopenLog(bundle, logPath);
  assert.ok(existsSync(logPath));
  await waitFor(() => existsSync(logPath) && readFileSync(logPath, 'utf8').includes('tick'));
});

test('a container over its memory limit is OOM-killed and conmon records it', async () => {
  const { persist } = await run('oom', ['sh', '-c', 'x=$(head -c 134217728 /dev/zero | tr "\\0" a); echo survived'], { resources: { devices: [{ allow: false, access: 'rwm' }], memory: { limit: 33554432, swap: 33554432 } } });
  await waitFor(() => existsSync(rt.exitFile('oom')) && readFileSync(rt.exitFile('oom'), 'utf8') !== '', 20_000);
  assert.equal(readFileSync(rt.exitFile('oom'), 'utf8').trim(), '137');
  assert.ok(existsSync(join(persist, 'oom')), 'conmon wrote an oom file');
});

test('update changes a running container\'s resources and kill/state/delete manage it', async () => {
  await run('upd', ['sleep', '1000']);
  await rt.update('upd', { memory: { limit: 67108864, swap: 67108864 } });
  const st = await rt.state('upd');
  assert.equal(st.status, 'running');
  await rt.kill('upd', 'KILL');
  await waitFor(() => existsSync(rt.exitFile('upd')) && readFileSync(rt.exitFile('upd'), 'utf8') !== '');
  assert.equal(readFileSync(rt.exitFile('upd'), 'utf8').trim(), '137');
  await rt.delete('upd');
  await assert.rejects(rt.state('upd'), /no container/);
  await rt.delete('upd');
});
