/**
 * Checkpoint and restore through the daemon, conmon and a real overlay where CRIU cannot run:
 * the handler's runtime is runc behind a script that answers `checkpoint` with image files of
 * its own and `restore` by creating and starting the container afresh (no memory comes back),
 * and `runtime.criu_path` names a CRIU stand-in whose `check` passes. Everything else is real:
 * the archive, the rootfs diff, the create from the archive, conmon's `--restore`.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { TarReader } from '../../lib/storage/index.js';

let fx: ContainerFixture;
let dir: string;

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

before(async () => {
  dir = mkdtempSync('/tmp/rct-restore-wiring-');
  const calls = join(dir, 'calls');
  const criu = script('criu', '[ "$1" = --version ] && echo "Version: 3.19"; exit 0');
  const runtime = script('runc-wrapper', `
echo "$*" >> ${calls}
globals=""
while [ $# -gt 0 ]; do case "$1" in -*) globals="$globals $1"; shift;; *) break;; esac; done
cmd="$1"; shift
for a; do [ "$a" = --help ] && exit 0; done
case "$cmd" in
checkpoint)
  while [ $# -gt 1 ]; do case "$1" in --image-path) img="$2"; shift 2;; --work-path) work="$2"; shift 2;; *) shift;; esac; done
  echo stand-in > "$img/inventory.img"; echo dumped > "$work/dump.log"; exit 0;;
restore)
  opts=""
  while [ $# -gt 1 ]; do case "$1" in
    --bundle|--pid-file|--console-socket) opts="$opts $1 $2"; shift 2;;
    --image-path|--work-path) shift 2;;
    *) shift;;
  esac; done
  /usr/sbin/runc $globals create $opts "$1" && exec /usr/sbin/runc $globals start "$1";;
*) exec /usr/sbin/runc $globals "$cmd" "$@";;
esac`);
  fx = await ContainerFixture.start({ busybox: { Cmd: ['/bin/sh'] } }, {
    toml: `[runtime]\ndefault_handler = "wrapped"\ncriu_path = "${criu}"\n[runtimes.wrapped]\npath = "${runtime}"\n`,
  });
});

after(async () => {
  await fx?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function members(path: string): Map<string, Buffer> {
  const reader = new TarReader();
  reader.write(readFileSync(path));
  reader.close();
  const out = new Map<string, Buffer>();
  let current = '';
  for (let e = reader.read(); e !== undefined && e.kind !== 'end'; e = reader.read()) {
    if (e.kind === 'entry') out.set((current = e.entry.name), Buffer.alloc(0));
    else out.set(current, Buffer.concat([out.get(current)!, e.chunk]));
  }
  return out;
}

function calls(verb: string): string[] {
  return readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter((l) => new RegExp(`(^| )${verb} `).test(l));
}

it('a checkpoint archive made through the runtime, then a container created from it and started, has the checkpointed root filesystem and process', { timeout: 120_000 }, async () => {
  const pod = await fx.runPod();
  // What the process finds at its start tells the restored run from the first one.
  const script = '[ -e /srv/state ] && echo state-was-there > /srv/at-start; [ -e /srv/marker ] || echo marker-was-gone >> /srv/at-start; '
    + 'echo changed > /srv/state; rm -f /srv/marker; echo ready; exec sleep 1000';
  const id = await fx.run(pod, 'busybox', { command: ['/bin/sh', '-c', script] });
  for (const deadline = Date.now() + 10_000; (await fx.exec(id, ['/bin/sh', '-c', 'test ! -e /srv/marker && cat /srv/state'])).stdout !== 'changed\n';) {
    assert.ok(Date.now() < deadline, 'the container made its changes');
    await new Promise((r) => setTimeout(r, 50));
  }
  const location = join(dir, 'c.tar');
  await fx.client.runtime('CheckpointContainer', { container_id: id, location, timeout: 30 });
  const [dump] = calls('checkpoint').filter((l) => !l.includes('--help'));
  assert.match(dump!, new RegExp(`--criu=${dir}/criu checkpoint --image-path \\S+/checkpoint --work-path \\S+ --leave-running --tcp-established --file-locks ${id}$`));

  const archive = members(location);
  assert.deepEqual([...archive.keys()].sort(), ['checkpoint/', 'checkpoint/inventory.img', 'config.dump', 'container.log', 'deleted.files', 'dump.log', 'rootfs-diff.tar', 'spec.dump', 'status.dump']);
  assert.deepEqual(JSON.parse(archive.get('deleted.files')!.toString()), ['/srv/marker']);
  assert.match(archive.get('container.log')!.toString(), /stdout F ready/);
  assert.equal((JSON.parse(archive.get('config.dump')!.toString()) as { rootfsImageName: string }).rootfsImageName, fx.image('busybox'));
  writeFileSync(join(dir, 'diff.tar'), archive.get('rootfs-diff.tar')!);
  assert.equal(members(join(dir, 'diff.tar')).get('srv/state')?.toString(), 'changed\n');
  assert.equal((await fx.status(id)).state, 'CONTAINER_RUNNING', 'it goes on running');
  await fx.client.runtime('StopContainer', { container_id: id, timeout: 0 });
  await fx.client.runtime('RemoveContainer', { container_id: id });

  const restored = await fx.create(pod, 'busybox', { metadata: { name: 'restored' }, image: { image: location }, command: ['/bin/false'] });
  const created = await fx.status(restored);
  assert.equal(created.state, 'CONTAINER_CREATED');
  assert.equal(created.image?.image, fx.image('busybox'));
  assert.equal(calls('restore').length, 0, 'nothing is restored before StartContainer');
  await fx.client.runtime('StartContainer', { container_id: restored });
  const [restore] = calls('restore');
  assert.match(restore!, new RegExp(`--criu=${dir}/criu restore --bundle \\S+ --pid-file \\S+ --detach --image-path \\S+/containers/${restored}/restore/checkpoint --work-path \\S+ --tcp-established --file-locks ${restored}$`));
  assert.equal((await fx.status(restored)).state, 'CONTAINER_RUNNING');
  for (const deadline = Date.now() + 10_000; (await fx.exec(restored, ['/bin/cat', '/srv/state'])).stdout !== 'changed\n';) {
    assert.ok(Date.now() < deadline);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await fx.exec(restored, ['/bin/cat', '/srv/at-start'])).stdout, 'state-was-there\nmarker-was-gone\n', 'the checkpoint\'s write was there and its deletion held when the process started');
  assert.match((await fx.exec(restored, ['/bin/ps', '-o', 'args'])).stdout, /sleep 1000/, 'the checkpointed process runs, not the request\'s command');
  await fx.removePod(pod.id);
});
