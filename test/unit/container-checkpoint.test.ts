import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRuntimeError } from '../../lib/errors/index.js';
import type { CreateContainerRequest__Output } from '../../lib/generated/runtime/v1/CreateContainerRequest.js';
import { TarReader } from '../../lib/storage/index.js';
import { writeCheckpointArchive } from '../../lib/container/checkpoint-archive.js';
import { createRequest, harness, log, never, type Harness } from '../helpers/lifecycle-harness.js';

/** Member names of a tar file, and the contents of its small files. */
function readTar(path: string): Map<string, Buffer> {
  const reader = new TarReader();
  reader.write(readFileSync(path));
  reader.close();
  const members = new Map<string, Buffer>();
  let current: string | undefined;
  for (let e = reader.read(); e !== undefined; e = reader.read()) {
    if (e.kind === 'end') break;
    if (e.kind === 'entry') {
      current = e.entry.name;
      members.set(current, Buffer.alloc(0));
    } else if (current) {
      members.set(current, Buffer.concat([members.get(current)!, e.chunk]));
    }
  }
  return members;
}

function kindOf(err: unknown): string {
  return isRuntimeError(err) ? err.kind : String(err);
}

async function runningContainer(h: Harness, name: string): Promise<string> {
  const id = await h.creator.create(createRequest(name), never, log);
  await h.lifecycle.start(id, log);
  return id;
}

function fromArchive(name: string, archive: string): CreateContainerRequest__Output {
  const req = createRequest(name);
  req.config!.image!.image = archive;
  return req;
}

test('where CRIU cannot work, CheckpointContainer is FAILED_PRECONDITION with its reason, and writes nothing', async () => {
  const h = await harness(11);
  h.fake.criu = { usable: false, reason: '`criu check` failed: vdso: Unexpected rt vDSO area bounds' };
  const id = await runningContainer(h, 'nocriu');
  const out = mkdtempSync(join(tmpdir(), 'runcri-ckpt-'));
  const location = join(out, 'c.tar');
  await assert.rejects(h.lifecycle.checkpoint(id, location, 0, log), (err: unknown) => kindOf(err) === 'failed_precondition' && /vDSO area bounds/.test((err as Error).message));
  assert.deepEqual(readdirSync(out), [], 'no archive, no temporary file');
  assert.equal(h.fake.calls.includes(`checkpoint:${id}`), false, 'the runtime was not asked to dump');
  assert.equal(h.lifecycle.get(id).state, 'CONTAINER_RUNNING');
  rmSync(out, { recursive: true });
  h.store.close();
});

test('a checkpoint needs an absolute location in an existing directory and a running container', async () => {
  const h = await harness(12);
  h.fake.criu = { usable: true };
  const created = await h.creator.create(createRequest('created'), never, log);
  const out = mkdtempSync(join(tmpdir(), 'runcri-ckpt-'));
  const cases: [string, string, string, RegExp][] = [
    [created, '', 'invalid_argument', /location is required/],
    [created, 'relative.tar', 'invalid_argument', /must be an absolute path/],
    [created, join(out, 'missing', 'c.tar'), 'invalid_argument', /does not exist/],
    [created, out, 'invalid_argument', /is a directory/],
    [created, join(out, 'c.tar'), 'failed_precondition', /is not running/],
    ['f'.repeat(64), join(out, 'c.tar'), 'not_found', /not found/],
  ];
  for (const [id, location, kind, message] of cases) {
    await assert.rejects(h.lifecycle.checkpoint(id, location, 0, log), (err: unknown) => kindOf(err) === kind && message.test((err as Error).message), `${location}: ${kind}`);
  }
  assert.deepEqual(readdirSync(out), []);
  rmSync(out, { recursive: true });
  h.store.close();
});

test('a checkpoint archive holds CRIU\'s images, config, spec, rootfs diff, deleted files and log; the container goes on running', async () => {
  const h = await harness(13);
  h.fake.criu = { usable: true };
  const id = await runningContainer(h, 'counter');
  h.fake.memory.set(id, 'counter=41');
  const rootfs = join(h.rootfsDirs, id);
  mkdirSync(join(rootfs, 'var'), { recursive: true });
  writeFileSync(join(rootfs, 'var', 'state'), 'written by the container\n');
  const c = h.lifecycle.get(id);
  writeFileSync(c.logPath, '2026-01-01T00:00:00Z stdout F hello\n');
  const out = mkdtempSync(join(tmpdir(), 'runcri-ckpt-'));
  const location = join(out, 'counter.tar');
  await h.lifecycle.checkpoint(id, location, 30, log);

  const members = readTar(location);
  for (const name of ['checkpoint/', 'checkpoint/fake-pages.img', 'config.dump', 'spec.dump', 'status.dump', 'rootfs-diff.tar', 'deleted.files', 'container.log', 'dump.log']) {
    assert.ok(members.has(name), `${name} in ${[...members.keys()].join(' ')}`);
  }
  const config = JSON.parse(members.get('config.dump')!.toString()) as Record<string, unknown>;
  assert.equal(config.id, id);
  assert.equal(config.name, 'counter');
  assert.equal(config.rootfsImageName, 'test/img:v1');
  assert.equal(config.rootfsImageRef, 'sha256:1');
  assert.match(String(config.checkpointedTime), /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual((JSON.parse(members.get('spec.dump')!.toString()) as { process: { args: string[] } }).process.args, ['sleep', '1000']);
  assert.deepEqual(JSON.parse(members.get('deleted.files')!.toString()), []);
  assert.equal(members.get('container.log')!.toString(), '2026-01-01T00:00:00Z stdout F hello\n');
  writeFileSync(join(out, 'diff.tar'), members.get('rootfs-diff.tar')!);
  const diff = readTar(join(out, 'diff.tar'));
  assert.equal(diff.get('var/state')?.toString(), 'written by the container\n');
  assert.equal(h.lifecycle.get(id).state, 'CONTAINER_RUNNING', 'a checkpoint leaves the container running');
  assert.equal(existsSync(join(c.containerDir, 'checkpoint')), false, 'the work directory is gone');
  rmSync(out, { recursive: true });
  h.store.close();
});

test('a container created from a checkpoint archive is created, then restored with its files and memory at StartContainer', async () => {
  const h = await harness(14);
  h.fake.criu = { usable: true };
  const id = await runningContainer(h, 'counter');
  h.fake.memory.set(id, 'counter=41');
  const rootfs = join(h.rootfsDirs, id);
  mkdirSync(join(rootfs, 'var'), { recursive: true });
  writeFileSync(join(rootfs, 'var', 'state'), 'written by the container\n');
  const out = mkdtempSync(join(tmpdir(), 'runcri-ckpt-'));
  const location = join(out, 'counter.tar');
  await h.lifecycle.checkpoint(id, location, 0, log);
  await h.lifecycle.remove(id, log);

  const req = fromArchive('restored', location);
  req.config!.command = ['/bin/other'];
  const restored = await h.creator.create(req, never, log);
  const record = h.lifecycle.get(restored);
  assert.equal(record.state, 'CONTAINER_CREATED');
  assert.equal(record.image, 'test/img:v1', 'the image is the checkpointed container\'s');
  assert.equal(record.restoredFrom, location);
  assert.equal(h.fake.calls.includes(`create:${restored}`), false, 'nothing runs before StartContainer');
  assert.equal(readFileSync(join(h.rootfsDirs, restored, 'var', 'state'), 'utf8'), 'written by the container\n', 'the root filesystem has the checkpoint\'s changes');

  await h.lifecycle.start(restored, log);
  assert.ok(h.fake.calls.includes(`restore:${restored}`));
  assert.equal(h.lifecycle.get(restored).state, 'CONTAINER_RUNNING');
  assert.equal(h.fake.memory.get(restored), 'counter=41', 'the process state came back');
  assert.deepEqual(h.fake.spec(restored)!.process.args, ['sleep', '1000'], 'the checkpointed process, not the request\'s command');
  assert.equal(existsSync(join(record.containerDir, 'restore')), false, 'the unpacked archive is gone once restored');
  await h.lifecycle.remove(restored, log);
  rmSync(out, { recursive: true });
  h.store.close();
});

test('a restore from a file that is no checkpoint is INVALID_ARGUMENT, one whose image is not on the node NOT_FOUND; neither leaves a container', async () => {
  const h = await harness(15);
  h.fake.criu = { usable: true };
  const out = mkdtempSync(join(tmpdir(), 'runcri-ckpt-'));
  writeFileSync(join(out, 'junk.tar'), 'not a tar archive at all, just words '.repeat(40));
  await assert.rejects(h.creator.create(fromArchive('junk', join(out, 'junk.tar')), never, log), (err: unknown) => kindOf(err) === 'invalid_argument');
  await assert.rejects(h.creator.create(fromArchive('gone', join(out, 'absent.tar')), never, log), (err: unknown) => kindOf(err) === 'invalid_argument' && /neither an image reference nor a checkpoint archive/.test((err as Error).message));
  // A well-formed archive of a container whose image this node does not have.
  const work = join(out, 'work');
  mkdirSync(join(work, 'checkpoint'), { recursive: true });
  writeFileSync(join(work, 'checkpoint', 'fake-pages.img'), '{}');
  writeFileSync(join(work, 'config.dump'), JSON.stringify({ id: 'x', name: 'x', rootfsImageName: 'test/absent:v1', createdTime: '', checkpointedTime: '', restored: false }));
  writeFileSync(join(work, 'spec.dump'), JSON.stringify({ process: { args: ['sleep', '1'] } }));
  await writeCheckpointArchive(work, join(out, 'foreign.tar'));
  await assert.rejects(h.creator.create(fromArchive('foreign', join(out, 'foreign.tar')), never, log), (err: unknown) => kindOf(err) === 'not_found' && /image "test\/absent:v1" of checkpoint .* is not on the node/.test((err as Error).message));
  h.fake.criu = { usable: false, reason: 'no CRIU on this node' };
  await assert.rejects(h.creator.create(fromArchive('foreign', join(out, 'foreign.tar')), never, log), (err: unknown) => kindOf(err) === 'failed_precondition' && /cannot restore a container from checkpoint .*: no CRIU on this node/.test((err as Error).message));
  h.fake.criu = { usable: true };
  // Without CRIU's images it is no checkpoint.
  rmSync(join(work, 'checkpoint'), { recursive: true });
  await writeCheckpointArchive(work, join(out, 'empty.tar'));
  await assert.rejects(h.creator.create(fromArchive('empty', join(out, 'empty.tar')), never, log), (err: unknown) => kindOf(err) === 'invalid_argument' && /holds no CRIU images/.test((err as Error).message));
  assert.deepEqual(h.lifecycle.list(), []);
  assert.deepEqual(existsSync(h.rootfsDirs) ? readdirSync(h.rootfsDirs) : [], [], 'no root filesystem left');
  rmSync(out, { recursive: true });
  h.store.close();
});

test('a dump that fails half way leaves no archive, no temporary file and no work files, and says what the runtime said', async () => {
  const h = await harness(17);
  h.fake.criu = { usable: true };
  const id = await runningContainer(h, 'failing');
  h.fake.checkpoint = async (_id, req) => {
    writeFileSync(join(req.imagePath, 'pages-1.img'), Buffer.alloc(4096));
    throw new Error('runc checkpoint: criu failed: type NOTIFY errno 0; see dump.log');
  };
  const out = mkdtempSync(join(tmpdir(), 'runcri-ckpt-'));
  await assert.rejects(h.lifecycle.checkpoint(id, join(out, 'c.tar'), 0, log), /criu failed: type NOTIFY/);
  assert.deepEqual(readdirSync(out), []);
  assert.equal(existsSync(join(h.lifecycle.get(id).containerDir, 'checkpoint')), false);
  assert.equal(h.lifecycle.get(id).state, 'CONTAINER_RUNNING');
  rmSync(out, { recursive: true });
  h.store.close();
});
