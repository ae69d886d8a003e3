import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_MOUNT_DATA, MNT_DETACH, MS, MountCallError, MountHelper } from '../../lib/mount/helper.js';
import { ensurePrivateMount, isPinnedNamespace, mountPoints, readMountInfo, unmount, unmountAll } from '../../lib/mount/index.js';
import { ensureNativeHelper } from '../helpers/native.js';
import { unmountBelow } from '../helpers/system.js';

let dir: string;
let helper: MountHelper;

before(() => {
  helper = new MountHelper(ensureNativeHelper('mount-helper'));
  dir = mkdtempSync('/tmp/rct-mount-helper-');
});

after(() => {
  helper.close();
  unmountBelow(dir);
  rmSync(dir, { recursive: true, force: true });
});

function mountOptionsOf(target: string): string {
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target);
  assert.ok(line, `${target} is not mounted`);
  return line;
}

describe('mount helper', () => {
  it('mounts a tmpfs with flags and data, and unmounts it', async () => {
    const target = join(dir, 'tmpfs');
    mkdirSync(target);
    await helper.mount('shm', target, 'tmpfs', MS.NOSUID | MS.NODEV | MS.NOEXEC, 'mode=1777,size=65536k');
    const line = mountOptionsOf(target);
    assert.match(line, /nosuid,nodev,noexec/);
    assert.match(line, /size=65536k/);
    await helper.umount(target, 0);
    assert.equal(mountPoints().has(target), false);
  });

  it('mounts an overlay whose relative layer paths resolve in the directory it is given', async () => {
    const base = join(dir, 'ovl');
    for (const sub of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(base, sub), { recursive: true });
    writeFileSync(join(base, 'lower', 'from-lower'), 'lower\n');
    await helper.mount('overlay', join(base, 'merged'), 'overlay', 0, 'lowerdir=lower,upperdir=upper,workdir=work', base);
    assert.equal(readFileSync(join(base, 'merged', 'from-lower'), 'utf8'), 'lower\n');
    writeFileSync(join(base, 'merged', 'written'), 'upper\n');
    assert.equal(readFileSync(join(base, 'upper', 'written'), 'utf8'), 'upper\n');
    await helper.umount(join(base, 'merged'), MNT_DETACH);
    assert.equal(mountPoints().has(join(base, 'merged')), false);
  });

  it('refuses options longer than the page mount(2) copies, instead of letting the kernel cut them', async () => {
    const target = join(dir, 'long');
    mkdirSync(target);
    const options = `lowerdir=${'x'.repeat(MAX_MOUNT_DATA)}`;
    await assert.rejects(helper.mount('overlay', target, 'overlay', 0, options, dir), (err: unknown) => err instanceof MountCallError && /exceed the one page/.test(err.message));
    assert.equal(mountPoints().has(target), false);
  });

  it('answers a refused call with its errno and the path, and keeps serving after it', async () => {
    const missing = join(dir, 'no-such-dir');
    await assert.rejects(helper.mount('shm', missing, 'tmpfs', 0, ''), (err: unknown) => err instanceof MountCallError && err.errno === 2 && err.message.includes(missing));
    await assert.rejects(helper.umount(join(dir), 0), (err: unknown) => err instanceof MountCallError && err.errno === 22);
    const target = join(dir, 'after-errors');
    mkdirSync(target);
    await helper.mount(dir, target, '', MS.BIND, '');
    assert.equal(mountPoints().has(target), true);
    await helper.umount(target, 0);
  });

  it('answers calls sent at once, each with its own result, in order', async () => {
    const targets = Array.from({ length: 20 }, (_, i) => join(dir, `many-${i}`));
    for (const t of targets) mkdirSync(t);
    const results = await Promise.allSettled(targets.map((t, i) => (i % 5 === 4 ? helper.umount(t, 0) : helper.mount('tmpfs', t, 'tmpfs', 0, 'size=1m'))));
    results.forEach((r, i) => assert.equal(r.status, i % 5 === 4 ? 'rejected' : 'fulfilled', `call ${i}`));
    for (const [i, t] of targets.entries()) if (i % 5 !== 4) await helper.umount(t, 0);
    assert.deepEqual(targets.filter((t) => mountPoints().has(t)), []);
  });
});

describe('unmounting through the helper', () => {
  it('unmounts what is mounted and passes over what is not, without reading the mount table', async () => {
    const mounted = join(dir, 'um-mounted');
    const plain = join(dir, 'um-plain');
    const missing = join(dir, 'um-missing', 'below');
    for (const d of [mounted, plain]) mkdirSync(d);
    await helper.mount('tmpfs', mounted, 'tmpfs', 0, 'size=1m');
    await unmount(plain);
    await unmount(missing, { lazyFallback: true });
    await unmount(mounted);
    assert.equal(mountPoints().has(mounted), false);
  });

  it('unmounts each of a list that is mounted, the rest passed over', async () => {
    const targets = [0, 1, 2, 3].map((i) => join(dir, `um-all-${i}`));
    for (const t of targets) mkdirSync(t);
    await helper.mount('tmpfs', targets[1]!, 'tmpfs', 0, 'size=1m');
    await helper.mount('tmpfs', targets[3]!, 'tmpfs', 0, 'size=1m');
    await unmountAll([...targets, join(dir, 'um-all-missing')]);
    assert.deepEqual(targets.filter((t) => mountPoints().has(t)), []);
  });

  it('still fails on a refusal that is not "no mount here"', async () => {
    const target = join(dir, 'um-busy');
    mkdirSync(target);
    await helper.mount('tmpfs', target, 'tmpfs', 0, 'size=1m');
    const held = openSync(join(target, 'open-file'), 'w');
    try {
      await assert.rejects(unmount(target), (err: unknown) => err instanceof MountCallError && err.errno === 16, 'EBUSY while a file is open in it');
      assert.equal(mountPoints().has(target), true);
      await unmount(target, { lazyFallback: true });
      assert.equal(mountPoints().has(target), false, 'detached instead');
    } finally {
      closeSync(held);
    }
  });

  it('makes a directory a private mount once; a second call stacks nothing on it', async () => {
    const target = join(dir, 'private-ns');
    mkdirSync(target);
    const mountsAt = () => readMountInfo().filter((m) => m.mountPoint === target);
    await ensurePrivateMount(target);
    assert.equal(mountsAt().length, 1);
    assert.ok(!mountsAt()[0]!.optional.some((tag) => tag.startsWith('shared:')), `private: ${mountsAt()[0]!.optional.join(' ')}`);
    await ensurePrivateMount(target);
    assert.equal(mountsAt().length, 1, 'still the one mount');
    await helper.mount('', target, '', MS.SHARED, '');
    await ensurePrivateMount(target);
    assert.ok(!mountsAt()[0]!.optional.some((tag) => tag.startsWith('shared:')), 'a shared one is made private again');
    await unmount(target);
  });

  it('tells a pinned namespace file from a plain or missing one', async () => {
    const pinned = join(dir, 'ns-pinned');
    const plain = join(dir, 'ns-plain');
    writeFileSync(pinned, '');
    writeFileSync(plain, '');
    await helper.mount('/proc/self/ns/net', pinned, '', MS.BIND, '');
    try {
      assert.equal(isPinnedNamespace(pinned), true);
      assert.equal(isPinnedNamespace(plain), false);
      assert.equal(isPinnedNamespace(join(dir, 'ns-missing')), false);
    } finally {
      await helper.umount(pinned, 0);
    }
    assert.equal(isPinnedNamespace(pinned), false, 'once unmounted');
  });
});
