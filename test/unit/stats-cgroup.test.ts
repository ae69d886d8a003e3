import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupManager, type CgroupLayout } from '../../lib/cgroups/index.js';
import { controlFilesOf, parseFlatKeyed, parsePsi, readCgroupStats, valueOfKey } from '../../lib/stats/cgroup-stats.js';
import { containerStatsWire } from '../../lib/stats/wire.js';
import type { ContainerSample } from '../../lib/stats/sample.js';

const base = mkdtempSync('/tmp/rct-cgfix-');
after(() => rmSync(base, { recursive: true, force: true }));

function tree(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

/** A v1 hybrid host as this test bed has it: cpu and cpuacct on separate hierarchies. */
function v1Fixture(): CgroupManager {
  const root = join(base, 'v1');
  const cg = '/kubepods/podA/ctr1';
  tree(root, {
    [`cpuacct${cg}/cpuacct.usage`]: '2500000000\n',
    [`cpu${cg}/cpu.stat`]: 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n',
    [`memory${cg}/memory.usage_in_bytes`]: '104857600\n',
    [`memory${cg}/memory.limit_in_bytes`]: '209715200\n',
    [`memory${cg}/memory.memsw.usage_in_bytes`]: '106954752\n',
    [`memory${cg}/memory.memsw.limit_in_bytes`]: '314572800\n',
    [`memory${cg}/memory.stat`]: [
      'cache 1000', 'rss 2000', 'pgfault 5', 'pgmajfault 1', 'inactive_file 7',
      'total_cache 31457280', 'total_rss 62914560', 'total_pgfault 12345', 'total_pgmajfault 67',
      'total_inactive_file 20971520', 'total_active_file 1048576', '',
    ].join('\n'),
    [`memory${cg}/memory.oom_control`]: 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n',
    [`pids${cg}/pids.current`]: '4\n',
    // no limit anywhere: v1 writes PAGE_COUNTER_MAX
    [`memory/unlimited/memory.usage_in_bytes`]: '4096\n',
    [`memory/unlimited/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`memory/unlimited/memory.stat`]: 'total_inactive_file 8192\n',
  });
  const layout: CgroupLayout = {
    version: 1,
    v1: ['cpu', 'cpuacct', 'memory', 'pids'].map((c) => ({ mountPoint: join(root, c), controllers: [c] })),
  };
  return new CgroupManager(layout);
}

function v2Fixture(): CgroupManager {
  const root = join(base, 'v2');
  const cg = '/kubepods.slice/pod.slice/ctr2';
  tree(root, {
    [`${cg}/cpu.stat`]: 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n',
    [`${cg}/cpu.pressure`]: 'some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=100\n',
    [`${cg}/memory.current`]: '50000000\n',
    [`${cg}/memory.max`]: '100000000\n',
    [`${cg}/memory.stat`]: 'anon 30000000\nfile 15000000\ninactive_file 10000000\nactive_file 5000000\npgfault 999\npgmajfault 9\n',
    [`${cg}/memory.swap.current`]: '2048\n',
    [`${cg}/memory.swap.max`]: 'max\n',
    [`${cg}/memory.events`]: 'low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n',
    [`${cg}/pids.current`]: '7\n',
    ['/nomax/memory.current']: '100\n',
    ['/nomax/memory.max']: 'max\n',
    ['/nomax/memory.stat']: 'inactive_file 500\n',
  });
  return new CgroupManager({ version: 2, v1: [], unified: root });
}

const read = (m: CgroupManager, path: string) => readCgroupStats(m.layout.version, (f) => m.read(path, f));

function sample(stats: ReturnType<typeof readCgroupStats>): ContainerSample {
  return {
    container: { id: 'c1', podId: 'p1', metadata: { name: 'c', attempt: 0 }, labels: {}, annotations: {}, state: 'CONTAINER_RUNNING', image: 'img', cgroupPath: '/x', upperDir: '' },
    atNs: 1_700_000_000_000_000_000n,
    cgroup: stats,
    cpuRate: 250_000_000n,
  };
}

describe('cgroup v1 stat files', () => {
  const m = v1Fixture();
  const stats = read(m, '/kubepods/podA/ctr1');

  it('reads cumulative CPU from cpuacct.usage, on its own hierarchy', () => {
    assert.equal(stats.cpuUsageNs, 2_500_000_000n);
  });

  it('computes the working set as usage minus total_inactive_file, and rss and faults from the hierarchical counters', () => {
    assert.equal(stats.memory?.usageBytes, 104857600n);
    assert.equal(stats.memory?.workingSetBytes, 104857600n - 20971520n);
    assert.equal(stats.memory?.rssBytes, 62914560n);
    assert.equal(stats.memory?.pageFaults, 12345n);
    assert.equal(stats.memory?.majorPageFaults, 67n);
    assert.equal(stats.memory?.limitBytes, 209715200n);
  });

  it('derives swap from memsw minus memory', () => {
    assert.equal(stats.swap?.usageBytes, 106954752n - 104857600n);
    assert.equal(stats.swap?.limitBytes, 314572800n - 209715200n);
  });

  it('reads pids and OOM kills', () => {
    assert.equal(stats.pids, 4n);
    assert.equal(stats.oomKills, 3n);
  });

  it('treats PAGE_COUNTER_MAX as no limit, so no available_bytes is reported', () => {
    const s = read(m, '/unlimited');
    assert.equal(s.memory?.limitBytes, undefined);
    assert.equal(s.memory?.workingSetBytes, 0n, 'working set floors at zero when inactive_file exceeds usage');
    assert.equal(containerStatsWire(sample(s)).memory?.available_bytes, null);
  });

  it('turns into a CRI ContainerStats with available = limit - working set and int64 strings', () => {
    const wire = containerStatsWire(sample(stats));
    assert.equal(wire.cpu?.usage_core_nano_seconds?.value, '2500000000');
    assert.equal(wire.cpu?.usage_nano_cores?.value, '250000000');
    assert.equal(wire.cpu?.timestamp, '1700000000000000000');
    assert.equal(wire.memory?.available_bytes?.value, String(209715200 - (104857600 - 20971520)));
    assert.equal(wire.swap?.swap_available_bytes?.value, String(314572800 - 209715200 - (106954752 - 104857600)));
    assert.equal(wire.writable_layer, undefined);
  });

  it('reads nothing (and throws nothing) for a cgroup that does not exist', () => {
    const s = read(m, '/no/such/cgroup');
    assert.equal(s.cpuUsageNs, undefined);
    assert.equal(s.memory, undefined);
    assert.equal(s.pids, undefined);
  });
});

describe('cgroup v2 stat files', () => {
  const m = v2Fixture();
  const stats = read(m, '/kubepods.slice/pod.slice/ctr2');

  it('reads CPU from cpu.stat usage_usec in nanoseconds', () => {
    assert.equal(stats.cpuUsageNs, 1_500_000_000n);
  });

  it('computes working set from memory.current minus inactive_file and rss from anon', () => {
    assert.equal(stats.memory?.usageBytes, 50000000n);
    assert.equal(stats.memory?.workingSetBytes, 40000000n);
    assert.equal(stats.memory?.rssBytes, 30000000n);
    assert.equal(stats.memory?.pageFaults, 999n);
    assert.equal(stats.memory?.majorPageFaults, 9n);
    assert.equal(stats.memory?.limitBytes, 100000000n);
  });

  it('reads swap, OOM events and pids; `max` means no limit', () => {
    assert.deepEqual(stats.swap, { usageBytes: 2048n, limitBytes: undefined });
    assert.equal(stats.oomKills, 1n);
    assert.equal(stats.oomEvents, 2n);
    assert.equal(stats.pids, 7n);
    assert.equal(read(m, '/nomax').memory?.limitBytes, undefined);
  });

  it('reads pressure stall information into the CRI psi fields', () => {
    assert.deepEqual(stats.cpuPsi?.some, { total: 12345n, avg10: 1.5, avg60: 0.25, avg300: 0 });
    const wire = containerStatsWire(sample(stats));
    assert.deepEqual(wire.cpu?.psi?.Full, { Total: '100', Avg10: 0, Avg60: 0, Avg300: 0 });
    assert.equal(wire.swap?.swap_available_bytes, null);
  });
});

describe('stat file parsing', () => {
  it('skips malformed lines instead of failing', () => {
    const parsed = parseFlatKeyed('a 1\nbroken\nb x\n c 3\nd 18446744073709551615\n');
    assert.deepEqual([...parsed], [['a', 1n], ['d', 18446744073709551615n]]);
  });

  it('finds a key on any line, only as a whole key, with values of any size', () => {
    const text = 'rss_huge 9\ncache 1\nrss 2000\ntotal_rss 62914560\npgfault  5 \ntotal_pgmajfault 18446744073709551615\nbad 12x\nlast 7';
    assert.equal(valueOfKey(text, 'rss'), 2000n, 'not rss_huge, not total_rss');
    assert.equal(valueOfKey(text, 'total_rss'), 62914560n);
    assert.equal(valueOfKey(text, 'pgfault'), 5n, 'blanks around the value');
    assert.equal(valueOfKey(text, 'total_pgmajfault'), 18446744073709551615n, 'past 2^53, exactly');
    assert.equal(valueOfKey(text, 'last'), 7n, 'the last line without a newline');
    assert.equal(valueOfKey(text, 'cache'), 1n);
    for (const absent of ['bad', 'missing', 'total']) assert.equal(valueOfKey(text, absent), undefined, absent);
    assert.equal(valueOfKey('rss 3\n', 'rss'), 3n, 'the first line');
  });

  it('reads only the files a container\'s stats need unless all are asked for', () => {
    const asked: string[] = [];
    const files: Record<string, string> = { 'cpuacct.usage': '5\n', 'memory.usage_in_bytes': '10\n', 'memory.stat': 'total_rss 1\n', 'memory.oom_control': 'oom_kill 2\n', 'pids.current': '3\n' };
    const read = (file: string) => {
      asked.push(file);
      return files[file];
    };
    const usage = readCgroupStats(1, read, 'usage');
    assert.equal(usage.cpuUsageNs, 5n);
    assert.equal(usage.memory?.rssBytes, 1n);
    assert.ok(!asked.includes('memory.oom_control') && !asked.includes('pids.current'), asked.join());
    assert.equal(usage.pids, undefined);
    const all = readCgroupStats(1, read, 'all');
    assert.equal(all.pids, 3n);
    assert.equal(all.oomKills, 2n);
  });

  it('names every file it may read, for each version and scope, so that one batch can read them first', () => {
    // Every file answers, so every branch that reads another file is taken.
    const answer = (file: string) => (file.endsWith('pressure') ? 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n' : file.endsWith('stat') || file.endsWith('events') || file.endsWith('oom_control') ? 'total_rss 1\nanon 1\nusage_usec 1\noom 1\noom_kill 1\n' : '1\n');
    for (const version of [1, 2] as const) {
      for (const scope of ['usage', 'all'] as const) {
        const asked = new Set<string>();
        readCgroupStats(version, (file) => {
          asked.add(file);
          return answer(file);
        }, scope);
        const named = new Set(controlFilesOf(version, scope));
        assert.deepEqual([...asked].filter((f) => !named.has(f)), [], `v${version} ${scope}`);
        assert.ok(asked.size > 3, `v${version} ${scope} read ${[...asked].join()}`);
      }
    }
  });

  it('returns no PSI for an empty or foreign file', () => {
    assert.equal(parsePsi(''), undefined);
    assert.equal(parsePsi('garbage'), undefined);
  });
});
