import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { TestDaemon } from '../helpers/daemon.js';

let fx: ContainerFixture;

before(async () => {
  fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '100000'] } });
});

after(async () => {
  await fx?.destroy();
});

function entries(...path: string[]): string[] {
  const dir = join(...path);
  return existsSync(dir) ? readdirSync(dir) : [];
}

function mounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);
}

test('pods and containers that come and go leave no monitor socket, exit record, bundle or namespace file, and a stopped daemon leaves no mount', async () => {
  for (let i = 0; i < 10; i++) {
    const pod = await fx.runPod(i % 2 ? { linux: { security_context: { namespace_options: { pid: 'POD' } } } } : {});
    const id = await fx.run(pod, 'plain', { metadata: { name: `cycle${i}` } });
    assert.equal((await fx.exec(id, ['echo', 'hi'])).stdout, 'hi\n');
    await fx.client.runtime('StopContainer', { container_id: id, timeout: 0 });
    await fx.client.runtime('RemoveContainer', { container_id: id });
    await fx.removePod(pod.id);
  }
  const state = fx.dirs.state;
  assert.deepEqual(entries(state, 'sockets'), [], 'attach socket links of removed containers');
  assert.deepEqual(entries(state, 'exits'), []);
  assert.deepEqual(entries(state, 'containers'), []);
  assert.deepEqual(entries(state, 'exec'), []);
  assert.deepEqual(entries(state, 'pods'), []);
  assert.deepEqual(entries(state, 'ns'), []);
  assert.deepEqual(entries(fx.dirs.root, 'containers'), []);
  assert.deepEqual(entries(fx.dirs.root, 'overlay', 'containers'), []);
  assert.ok(mounted(join(state, 'ns')), 'the namespace directory is a private mount while the daemon runs');
  await fx.daemon.stop();
  assert.ok(!mounted(join(state, 'ns')), 'the namespace directory is left mounted after the daemon stopped');
});

test('at start the daemon removes socket links an older runcri left for containers long deleted', async () => {
  const stale = join(fx.dirs.state, 'sockets', 'f'.repeat(64));
  symlinkSync(join(fx.dirs.state, 'containers', 'f'.repeat(64)), stale);
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs });
  assert.deepEqual(entries(fx.dirs.state, 'sockets'), []);
});
