import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CpuRateTracker } from '../../lib/stats/cpu-rate.js';
import { DiskUsageCache, measureTree, mountPointOf } from '../../lib/stats/disk-usage.js';
import { NetnsCounters, parseNetDev } from '../../lib/stats/netdev.js';

const base = mkdtempSync('/tmp/rct-stats-');
after(() => rmSync(base, { recursive: true, force: true }));

describe('usage_nano_cores', () => {
  it('is the CPU used between two samples per wall nanosecond, times 1e9', () => {
    const t = new CpuRateTracker();
    assert.equal(t.observe('c', 1_000_000_000n, 10_000_000_000n), undefined, 'no rate from the first sample');
    // half a core for one second
    assert.equal(t.observe('c', 1_500_000_000n, 11_000_000_000n), 500_000_000n);
    assert.equal(t.observe('c', 3_500_000_000n, 12_000_000_000n), 2_000_000_000n);
  });

  it('rates a sample taken too soon against the older one instead of a noisy few microseconds', () => {
    const t = new CpuRateTracker();
    t.observe('c', 0n, 0n);
    t.observe('c', 1_000_000_000n, 1_000_000_000n);
    assert.equal(t.observe('c', 1_000_100_000n, 1_000_001_000n), 1_000_100_000n * 1_000_000_000n / 1_000_001_000n);
    // the close sample did not replace the stored one
    assert.equal(t.observe('c', 2_000_000_000n, 2_000_000_000n), 1_000_000_000n);
  });

  it('reports no rate when the counter went backwards (a recreated cgroup), and keeps keys apart', () => {
    const t = new CpuRateTracker();
    t.observe('a', 5_000_000_000n, 0n);
    t.observe('b', 0n, 0n);
    assert.equal(t.observe('a', 1n, 1_000_000_000n), undefined);
    assert.equal(t.observe('b', 250_000_000n, 1_000_000_000n), 250_000_000n);
    t.retain(new Set(['b']));
    assert.equal(t.observe('a', 2n, 2_000_000_000n), undefined, 'a was forgotten');
  });
});

describe('writable layer usage', () => {
  it('counts allocated bytes and inodes, a hard-linked file once', async () => {
    const dir = join(base, 'upper1');
    mkdirSync(join(dir, 'etc', 'deep'), { recursive: true });
    writeFileSync(join(dir, 'etc', 'big'), Buffer.alloc(64 * 1024, 1));
    writeFileSync(join(dir, 'etc', 'deep', 'small'), 'x');
    linkSync(join(dir, 'etc', 'big'), join(dir, 'big-link'));
    const usage = await measureTree(dir);
    // etc, etc/deep, etc/big, etc/deep/small; the hard link is the same inode as etc/big
    assert.equal(usage.inodes, 4n);
    assert.ok(usage.bytes >= 64n * 1024n, `bytes ${usage.bytes}`);
    assert.ok(usage.bytes < 64n * 1024n * 2n, 'the hard link was not counted twice');
  });

  it('measures a layer of thousands of files in slices, letting the event loop run between them', async () => {
    const dir = join(base, 'upper-big');
    mkdirSync(join(dir, 'a'), { recursive: true });
    for (let n = 0; n < 3000; n++) writeFileSync(join(dir, 'a', `f${n}`), 'x');
    let turns = 0;
    let walking = true;
    const spin = (): void => {
      if (!walking) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const usage = await measureTree(dir);
    walking = false;
    assert.equal(usage.inodes, 3001n, 'the directory and its 3000 files');
    assert.ok(turns >= 3, `the walk yielded between slices (the loop turned ${turns} times during it)`);
  });

  it('measures a missing directory as empty', async () => {
    assert.deepEqual(await measureTree(join(base, 'nope')), { bytes: 0n, inodes: 0n });
  });

  it('reuses a fresh measurement and refreshes a stale one in the background, never walking twice at once', async () => {
    let now = 0n;
    let walks = 0;
    let release: (() => void) | undefined;
    const cache = new DiskUsageCache(1000, () => now, async () => {
      walks++;
      if (walks > 1) await new Promise<void>((r) => { release = r; });
      return { bytes: BigInt(walks * 100), inodes: BigInt(walks) };
    });
    assert.equal((await cache.get('/d')).bytes, 100n, 'the first call waits for a walk');
    now = 500_000_000n;
    assert.equal((await cache.get('/d')).bytes, 100n);
    assert.equal(walks, 1, 'fresh: no new walk');
    now = 2_000_000_000n;
    assert.equal((await cache.get('/d')).bytes, 100n, 'stale: answered at once with the old value');
    await new Promise((r) => setImmediate(r));
    assert.equal((await cache.get('/d')).bytes, 100n);
    await new Promise((r) => setImmediate(r));
    assert.equal(walks, 2, 'one refresh in flight, not two');
    release!();
    await new Promise((r) => setImmediate(r));
    assert.equal((await cache.get('/d')).bytes, 200n);
  });

  it('re-walks many stale directories one at a time, answering each call at once with the last figures', async () => {
    let now = 0n;
    let inFlight = 0;
    let most = 0;
    const walked: string[] = [];
    const cache = new DiskUsageCache(1000, () => now, async (dir) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      walked.push(dir);
      return { bytes: BigInt(walked.length), inodes: 1n };
    });
    const dirs = Array.from({ length: 20 }, (_, n) => `/d${n}`);
    await Promise.all(dirs.map((d) => cache.get(d)));
    walked.length = 0;
    most = 0;
    now = 5_000_000_000n;
    const answers = await Promise.all(dirs.map((d) => cache.get(d)));
    assert.ok(answers.every((a) => a.atNs === 0n), 'the stale figures, at once');
    while (walked.length < dirs.length) await new Promise((r) => setTimeout(r, 2));
    assert.equal(most, 1, 'never two walks at once');
    assert.deepEqual(walked, dirs, 'each stale directory walked once, in the order asked');
    assert.ok((await Promise.all(dirs.map((d) => cache.get(d)))).every((a) => a.atNs === 5_000_000_000n));
  });

  it('gives the last figure synchronously, nothing before the first walk, and queues a stale one', async () => {
    let now = 0n;
    let walks = 0;
    const cache = new DiskUsageCache(1000, () => now, async () => {
      walks++;
      return { bytes: BigInt(walks * 100), inodes: 1n };
    });
    assert.equal(cache.current('/d'), undefined, 'never measured');
    assert.equal(walks, 0, 'current() starts no walk of its own');
    await cache.get('/d');
    assert.equal(cache.current('/d')?.bytes, 100n);
    now = 2_000_000_000n;
    assert.equal(cache.current('/d')?.bytes, 100n, 'stale: the old figure at once');
    while (walks < 2) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(cache.current('/d')?.bytes, 200n, 'refreshed in the background');
  });

  it('leaves the event loop a turn before each re-walk, so an answer is not held behind the queue', async () => {
    let now = 0n;
    const walked: string[] = [];
    const cache = new DiskUsageCache(1000, () => now, async (dir) => {
      walked.push(dir);
      return { bytes: 1n, inodes: 1n };
    });
    const dirs = Array.from({ length: 10 }, (_, n) => `/d${n}`);
    await Promise.all(dirs.map((d) => cache.get(d)));
    walked.length = 0;
    now = 5_000_000_000n;
    for (const d of dirs) cache.current(d);
    // Every promise job the call has left runs before any re-walk does.
    for (let n = 0; n < 50; n++) await Promise.resolve();
    assert.deepEqual(walked, [], 'no re-walk ran in the same turn as the call that found them stale');
    while (walked.length < dirs.length) await new Promise((r) => setImmediate(r));
    assert.deepEqual(walked, dirs);
  });

  it('names the filesystem by the mount point holding the directory', () => {
    const mountinfo = [
      '22 1 8:1 / / rw - ext4 /dev/sda1 rw',
      '30 22 0:5 / /var/lib/runcri rw - ext4 /dev/sdb1 rw',
      '31 30 0:6 / /var/lib/runcri/overlay/c1/merged rw - overlay overlay rw',
      '32 22 0:7 / /var/lib/runcri-other rw - tmpfs tmpfs rw',
    ].join('\n');
    assert.equal(mountPointOf('/var/lib/runcri/overlay/c1/upper', mountinfo), '/var/lib/runcri');
    assert.equal(mountPointOf('/srv/x', mountinfo), '/');
  });
});

describe('pod network counters', () => {
  it('parses /proc/net/dev, leaving out the loopback', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0',
      '  eth0: 1234567      89    2    0    0     0          0         0   765432      50    1    0    0     0       0          0',
    ].join('\n');
    assert.deepEqual(parseNetDev(text), [{ name: 'eth0', rxBytes: 1234567n, rxErrors: 2n, txBytes: 765432n, txErrors: 1n }]);
  });

  it('reads a namespace through a process living in it, without nsenter', async () => {
    const counters = new NetnsCounters(() => 0n);
    const own = `/proc/${process.pid}/ns/net`;
    const result = await counters.read([own, join(base, 'not-a-netns')]);
    assert.ok(result.has(own));
    assert.ok(!result.has(join(base, 'not-a-netns')), 'an unreadable namespace is left out, not an error');
  });
});
