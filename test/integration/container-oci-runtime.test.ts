import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { descendants } from '../../lib/oci/index.js';
import type { OciRuntime, OciSpec } from '../../lib/oci/index.js';
import { ConmonFiles } from '../../lib/oci/conmon-files.js';
import { ConmonRuntime } from '../../lib/oci/conmon-runtime.js';
import { Paths } from '../../lib/paths/index.js';
import { Semaphore } from '../../lib/util/semaphore.js';
import { makeBusyboxRootfs } from '../helpers/busybox-bundle.js';
import { removeCgroupTree, unmountBelow } from '../helpers/system.js';

let base: string;
let rt: OciRuntime;
let paths: Paths;
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

async function run(id: string, args: string[], extra: Partial<OciSpec['linux']> = {}): Promise<{ logPath: string; pid: number }> {
  const logPath = join(base, `${id}.log`);
  created.push(id);
  const pid = await rt.create({ id, name: id, spec: spec(args, extra), logPath, terminal: false, stdin: false, stdinOnce: false });
  await rt.start(id);
  return { logPath, pid };
}

/** The container's exit as its monitor recorded it, once it did. */
async function exitOf(id: string, ms = 5000): Promise<{ exitCode: number; oomKilled: boolean }> {
  let status = rt.exitStatus(id);
  await waitFor(() => (status = rt.exitStatus(id)).state === 'exited', ms);
  assert.ok(status.state === 'exited');
  return status;
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
  paths = new Paths(join(base, 'root'), join(base, 'state'));
  for (const dir of [paths.exitDir, paths.socketDir]) mkdirSync(dir, { recursive: true });
  rt = new ConmonRuntime({
    runtimePath: '/usr/sbin/runc', runtimeRoot: join(base, 'runc'), conmonPath: '/usr/bin/conmon',
    files: new ConmonFiles(paths), execDir: paths.execDir, execSlots: new Semaphore(8), ptyHelper: undefined, log: pino({ level: 'silent' }),
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
  assert.equal((await exitOf('logs')).exitCode, 3);
  const lines = readFileSync(logPath, 'utf8').trim().split('\n');
  const re = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-Z][\d:]* (stdout|stderr) (P|F) /;
  for (const l of lines) assert.match(l, re);
  assert.ok(lines.some((l) => / stdout F hello$/.test(l)));
  assert.ok(lines.some((l) => / stdout P partial$/.test(l)));
  assert.ok(lines.some((l) => / stderr F oops$/.test(l)));
});

test('exec-sync separates stdout and stderr and returns the exit code; a missing binary is a non-zero answer', async () => {
  await run('exec', ['sleep', '1000']);
  const r = await rt.execSync('exec', { cmd: ['sh', '-c', 'echo out; echo err >&2; exit 7'], timeoutMs: 10_000, outputCap: 1 << 20 });
  assert.equal(r.exitCode, 7);
  assert.equal(r.stdout.toString(), 'out\n');
  assert.equal(r.stderr.toString(), 'err\n');
  const missing = await rt.execSync('exec', { cmd: ['/no/such/binary'], timeoutMs: 10_000, outputCap: 1 << 20 });
  assert.notEqual(missing.exitCode, 0);
});

test('exec-sync past its timeout kills the whole process tree and answers with what it captured', async () => {
  const { pid } = await run('exectimeout', ['sleep', '1000']);
  const started = Date.now();
  const r = await rt.execSync('exectimeout', { cmd: ['sh', '-c', 'echo before; sleep 100 & sleep 100; echo never'], timeoutMs: 500, outputCap: 1 << 20 });
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
  const { logPath } = await run('reopen', ['sh', '-c', 'while true; do echo tick; sleep 0.1; done']);
  await waitFor(() => existsSync(logPath) && readFileSync(logPath, 'utf8').includes('tick'));
  renameSync(logPath, `${logPath}.1`);
  await rt.reopenLog('reopen', logPath);
  assert.ok(existsSync(logPath));
  await waitFor(() => existsSync(logPath) && readFileSync(logPath, 'utf8').includes('tick'));
});

test('a container over its memory limit is OOM-killed and conmon records it', async () => {
  await run('oom', ['sh', '-c', 'x=$(head -c 134217728 /dev/zero | tr "\\0" a); echo survived'], { resources: { devices: [{ allow: false, access: 'rwm' }], memory: { limit: 33554432, swap: 33554432 } } });
  const oom = await exitOf('oom', 20_000);
  assert.equal(oom.exitCode, 137);
  assert.equal(oom.oomKilled, true, 'conmon recorded the OOM kill');
});

test('update changes a running container\'s resources and kill/state/delete manage it', async () => {
  await run('upd', ['sleep', '1000']);
  await rt.update('upd', { memory: { limit: 67108864, swap: 67108864 } });
  const st = await rt.state('upd');
  assert.equal(st.status, 'running');
  await rt.kill('upd', 'KILL');
  assert.equal((await exitOf('upd')).exitCode, 137);
  await rt.delete('upd');
  await assert.rejects(rt.state('upd'), /no container/);
  assert.equal(rt.spec('upd'), undefined);
  assert.deepEqual(readdirSync(paths.exitDir).filter((f) => f === 'upd'), [], 'the exit file went with the container');
  assert.deepEqual(readdirSync(paths.socketDir).filter((f) => f === 'upd'), [], 'the attach socket link went with the container');
  await rt.delete('upd');
});

test('a create whose spec fails to be made kills the conmon waiting for it and leaves neither a container nor the log file it opened', async () => {
  const id = 'specfails';
  const logPath = join(base, `${id}.log`);
  created.push(id);
  let fail!: (err: Error) => void;
  const pending = rt.create({ id, name: id, spec: new Promise<OciSpec>((_, reject) => { fail = reject; }), logPath, terminal: false, stdin: false, stdinOnce: false });
  // conmon is up, held at its start pipe, with the log open: then the spec fails.
  await waitFor(() => existsSync(logPath));
  fail(new Error('the spec could not be made'));
  await assert.rejects(pending, /the spec could not be made/);
  assert.equal(existsSync(logPath), false, 'the empty log conmon opened is left behind');
  await assert.rejects(rt.state(id), /runtime has no container/);
  const cmdline = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  };
  assert.deepEqual(descendants(process.pid).filter((pid) => cmdline(pid).includes(id)), [], 'a conmon of the failed create is still running');
});

test('a create whose spec comes late is created from that spec once it is there', async () => {
  const id = 'speclate';
  const logPath = join(base, `${id}.log`);
  created.push(id);
  const late = new Promise<OciSpec>((resolve) => setTimeout(() => resolve(spec(['sh', '-c', 'echo from-late-spec'])), 300));
  const pid = await rt.create({ id, name: id, spec: late, logPath, terminal: false, stdin: false, stdinOnce: false });
  assert.ok(pid > 0);
  await rt.start(id);
  assert.equal((await exitOf(id)).exitCode, 0);
  assert.match(readFileSync(logPath, 'utf8'), /stdout F from-late-spec/);
});
