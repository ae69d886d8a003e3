import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon, makeTestDirs, removeTestDirs } from '../helpers/daemon.js';
import { CgroupManager, hostCgroupLayout } from '../../lib/cgroups/index.js';
import { mountsBelow } from '../../lib/mount/index.js';

const dirs = makeTestDirs();
const gate = join(dirs.base, 'hold-probes');
const binary = join(dirs.base, 'gated-runc');
const daemons: TestDaemon[] = [];

/**
 * The default handler's binary: runc itself, except that a `run` (what a probe does; this
 * test runs no container) waits while the gate file exists. `extra` changes the file.
 */
function writeBinary(extra = ''): void {
  writeFileSync(binary, `#!/bin/sh\n${extra}\nfor a; do if [ "$a" = run ]; then while [ -e ${gate} ]; do sleep 0.05; done; fi; done\nexec /usr/sbin/runc "$@"\n`, { mode: 0o755 });
}

const toml = `[runtime]\ndefault_handler = "gated"\n[runtimes.gated]\npath = "${binary}"\nroot = "${join(dirs.state, 'gated')}"\n`;

async function start(waitForProbes: boolean): Promise<TestDaemon> {
  const d = await TestDaemon.start({ dirs, toml, waitForProbes });
  daemons.push(d);
  return d;
}

async function gatedHandler(d: TestDaemon) {
  const handlers = await d.handlerProbes();
  const gated = handlers.find((h) => h.name === 'gated');
  assert.ok(gated, `no handler "gated" in ${JSON.stringify(handlers)}`);
  return gated as typeof gated & { features: { recursiveReadOnlyMounts: boolean } };
}

async function runtimeReady(d: TestDaemon) {
  const status = await d.client.runtime('Status', {});
  return status.status!.conditions!.find((c) => c.type === 'RuntimeReady')!;
}

const probeDir = join(dirs.state, 'probe');

/**
 * A daemon whose probe of a changed binary is held at its container's run, after the
 * user-namespace probe has pinned a namespace and mounted an ID-mapped view.
 */
async function startHeldInProbe(build: string): Promise<{ daemon: TestDaemon; mounts: string[] }> {
  writeBinary(build);
  writeFileSync(gate, '');
  const daemon = await start(false);
  const deadline = Date.now() + 20_000;
  while (mountsBelow(probeDir).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const mounts = mountsBelow(probeDir);
  assert.ok(mounts.length >= 2, `the probe mounted its namespace and view (${mounts.join(', ')})`);
  return { daemon, mounts };
}

after(async () => {
  rmSync(gate, { force: true });
  for (const d of daemons) await d.stop();
  removeTestDirs(dirs);
});

describe('runtime handler probe cache', () => {
  it('answers after a restart with the cached result while the probe of the same binary runs again', async () => {
    writeBinary();
    const first = await start(true);
    const probed = await gatedHandler(first);
    assert.equal(probed.problem, '');
    assert.equal(probed.probe.source, 'probe');
    await first.stop();
    assert.ok(existsSync(join(dirs.root, 'handler-probes.json')), 'the probe result was not saved');

    // The probe of the restarted daemon cannot end while the gate exists: answering at all proves it did not wait for it.
    writeFileSync(gate, '');
    const second = await start(false);
    const cached = await gatedHandler(second);
    assert.deepEqual(cached.probe.source, 'cache');
    assert.equal(cached.probe.pending, true, 'the probe is due or held by the gate');
    assert.equal(cached.problem, '');
    assert.deepEqual(cached.features, probed.features);
    assert.equal((await runtimeReady(second)).status, true);
    // Past the daemon's start the probe runs, held by the gate: calls are still answered, from the cache.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const held = await gatedHandler(second);
    assert.equal(held.probe.pending, true);
    assert.equal(held.probe.source, 'cache');
    assert.equal((await runtimeReady(second)).status, true);

    rmSync(gate);
    await second.waitForProbes();
    const reprobed = await gatedHandler(second);
    assert.equal(reprobed.probe.source, 'probe');
    assert.deepEqual(reprobed.features, probed.features);
    await second.stop();
  });

  it('does not use the cached result of a changed binary: Status says the handler is being probed until it is', async () => {
    writeBinary('# another build');
    writeFileSync(gate, '');
    const d = await start(false);
    const probing = await gatedHandler(d);
    assert.equal(probing.probe.source, 'none');
    assert.equal(probing.probe.pending, true);
    assert.deepEqual(probing.features, { recursiveReadOnlyMounts: false, userNamespaces: false });
    const notReady = await runtimeReady(d);
    assert.equal(notReady.status, false);
    assert.equal(notReady.reason, 'RuntimeHandlerProbing');

    rmSync(gate);
    await d.waitForProbes();
    assert.equal((await runtimeReady(d)).status, true);
    const done = await gatedHandler(d);
    assert.equal(done.probe.source, 'probe');
    const cache = JSON.parse(readFileSync(join(dirs.root, 'handler-probes.json'), 'utf8')) as { handlers: Record<string, { binary: { version: string } }> };
    assert.match(cache.handlers.gated!.binary.version, /runc version/, 'the cache records the version the binary printed');
    await d.stop();
  });

  it('clears at start the mounts of a probe its killed predecessor was in the middle of', async () => {
    const { daemon: killed, mounts: left } = await startHeldInProbe('# a third build, so the probe runs again');
    await killed.kill();

    const next = await start(false);
    try {
      assert.deepEqual(mountsBelow(probeDir).filter((m) => left.includes(m)), [], 'the killed probe\'s mounts are gone');
      for (const m of left) assert.equal(existsSync(m), false, `${m} was removed`);
    } finally {
      rmSync(gate, { force: true });
      await next.waitForProbes();
      await next.stop();
    }
    assert.deepEqual(mountsBelow(probeDir), [], 'and the new probe left none either');
  });

  it('clears at start the cgroups of probes whose daemon is gone, and no other', async () => {
    writeBinary('# a fifth build');
    const hierarchies = new CgroupManager(hostCgroupLayout()).roots();
    const gone = spawnSync('true').pid!;
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    const names = {
      deadDaemon: `runcri-probe-gated-${gone}-1`,
      liveDaemon: `runcri-probe-gated-${sleeper.pid}-2`,
      stillInUse: `runcri-probe-gated-${gone}-3`,
      notAProbe: 'runcri-probe-of-nothing',
    };
    const made: string[] = [];
    try {
      for (const h of hierarchies) {
        for (const name of Object.values(names)) {
          mkdirSync(join(h, name));
          made.push(join(h, name));
        }
      }
      writeFileSync(join(hierarchies[0]!, names.stillInUse, 'cgroup.procs'), String(sleeper.pid));
      const d = await start(false);
      await d.stop();
      for (const h of hierarchies) {
        assert.equal(existsSync(join(h, names.deadDaemon)), false, `${h}: a probe cgroup of a daemon that is gone is removed`);
        assert.equal(existsSync(join(h, names.liveDaemon)), true, `${h}: a running daemon's probe is left alone`);
        assert.equal(existsSync(join(h, names.notAProbe)), true, `${h}: only probe IDs are matched`);
      }
      assert.equal(existsSync(join(hierarchies[0]!, names.stillInUse)), true, 'a cgroup with a process in it stays');
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
      for (const dir of made.reverse()) {
        try { rmdirSync(dir); } catch { /* removed by the daemon */ }
      }
    }
  });

  it('lets a probe under way finish and undo its mounts when the daemon is stopped', async () => {
    const { daemon: d } = await startHeldInProbe('# a fourth build');
    const stopped = d.stop();
    await new Promise((r) => setTimeout(r, 300));
    rmSync(gate);
    await stopped;
    assert.deepEqual(mountsBelow(probeDir), [], 'no probe mount outlives the daemon');
  });
});
