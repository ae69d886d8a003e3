/**
 * PullImage against its floor: cold pulls of two gzip images from a loopback docker-registry
 * (a ~200 MB, 6-layer one of mostly mid-sized files, a ~10,000-entry one of small files, and
 * one whose second layer deletes much of its first with whiteouts and opaque directories)
 * next to `curl` + `gzip -dc | tar -x` of the same blobs in the same run, in wall time and in
 * CPU seconds (the daemon's, its threads' and its children's; the floor's programs'). When
 * containerd and crictl are installed, the same pulls through containerd's CRI plugin too.
 * Then a 30-layer pull, and ListImages latency with 200 images next to a Version round trip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon, makeTestDirs } from '../test/helpers/daemon.js';
import { TestRegistry } from '../test/helpers/registry.js';
import { buildImage, buildTar, busyboxEntries, layerFromTar, makeLayer, pushImage, type EntrySpec, type LayerBlob } from '../test/helpers/oci-image.js';
import { compare, metric, percentile, timeMs } from './report.js';

const BIG_LAYERS = 6;
const BIG_LAYER_BYTES = 34 * 1024 * 1024;
const SMALL_LAYERS = 5;
const SMALL_LAYER_ENTRIES = 2000;
const MANY_LAYERS = 30;
const LIST_IMAGES = 200;
const LIST_SAMPLES = 200;
const FLOOR_PARALLEL = 3;
const ROUNDS = 2;
const CLOCK_TICKS = 100;
/**
 * On an ext4 without a journal, creating a file skips every inode deleted in the last 60 s
 * (360 s while its table block is dirty), and that search can cost more kernel time than the
 * rest of an unpack. So nothing is deleted while a scenario measures, and each scenario starts
 * after a sync and a quiet spell since the last deletion.
 */
const QUIET_MS = Number(process.env.IMAGE_PULL_QUIET_MS ?? 65_000);
const trash: string[] = [];
/**
 * Where the unpacked trees go: the disk (the default: what a node sees) or, with
 * IMAGE_PULL_FS=tmpfs, a tmpfs of the bench's own, which takes the host file system's cost
 * (and other processes' churn on it) out of the comparison of the runtimes' own CPU.
 */
const ON_TMPFS = process.env.IMAGE_PULL_FS === 'tmpfs';
let workParent = '/tmp';
/** Whatever ran before the bench may have just deleted files: wait once at the start too. */
let lastDeletion = Date.now();

function emptyTrash(): void {
  for (const dir of trash.splice(0)) {
    spawnSync('umount', ['-R', dir], { stdio: 'ignore' });
    spawnSync('rm', ['-rf', '--one-file-system', '--', dir]);
  }
  lastDeletion = Date.now();
}

async function quiet(): Promise<void> {
  spawnSync('sync');
  const wait = lastDeletion + QUIET_MS - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
const CONTAINERD_SCRIPT = '/work/shared/critest/containerd.sh';
const CRICTL = process.env.CRICTL ?? '/tmp/crit32/crictl';

/** Text-like content (base64 of random bytes): compresses about as well as binaries do. */
function text(size: number): string {
  return randomBytes(Math.ceil((size * 3) / 4)).toString('base64').slice(0, size);
}

function bigLayerEntries(index: number): EntrySpec[] {
  const entries: EntrySpec[] = [{ path: `data${index}/`, type: 'directory' }];
  let total = 0;
  let n = 0;
  while (total < BIG_LAYER_BYTES) {
    // Mostly small files, some large, as in real images.
    const size = n % 50 === 0 ? 2 * 1024 * 1024 : 4 * 1024 + ((n * 7919) % (96 * 1024));
    entries.push({ path: `data${index}/d${n % 40}/f${n}`, content: text(size) });
    total += size;
    n++;
  }
  return entries;
}

/** A layer of small files (a package tree: headers, scripts, locale files) in 40 directories. */
function smallLayerEntries(index: number): EntrySpec[] {
  const entries: EntrySpec[] = [];
  for (let d = 0; d < 40; d++) entries.push({ path: `usr${index}/share/d${d}/`, type: 'directory' });
  for (let n = entries.length; n < SMALL_LAYER_ENTRIES; n++) {
    if (n % 20 === 0) entries.push({ path: `usr${index}/share/d${n % 40}/link${n}`, type: 'symlink', linkname: `f${n - 1}` });
    else entries.push({ path: `usr${index}/share/d${n % 40}/f${n}`, content: text(200 + ((n * 7919) % 8000)) });
  }
  return entries;
}

/** cap_net_raw, permitted and effective: a VFS_CAP_REVISION_2 value, as setcap writes it on ping. */
const CAP_NET_RAW = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const WHITEOUT_DIRS = 20;
const WHITEOUT_FILES_PER_DIR = 50;

/**
 * An image whose second layer undoes much of its first, as a later `RUN rm -rf ...` does:
 * opaque markers on half of its 20 directories and whiteouts for every file of the other half
 * (500), over 1,000 small files of which a tenth carry file capabilities.
 */
function whiteoutLayers(): EntrySpec[][] {
  const base: EntrySpec[] = [];
  const top: EntrySpec[] = [];
  for (let d = 0; d < WHITEOUT_DIRS; d++) {
    base.push({ path: `opt/d${d}/`, type: 'directory' });
    for (let f = 0; f < WHITEOUT_FILES_PER_DIR; f++) {
      base.push({ path: `opt/d${d}/f${f}`, content: text(1024), ...(f % 10 === 0 ? { pax: { 'SCHILY.xattr.security.capability': CAP_NET_RAW } } : {}) });
    }
    if (d < 10) top.push({ path: `opt/d${d}/`, type: 'directory' }, { path: `opt/d${d}/.wh..wh..opq` });
    else for (let f = 0; f < WHITEOUT_FILES_PER_DIR; f++) top.push({ path: `opt/d${d}/.wh.f${f}` });
  }
  return [base, top];
}

/**
 * CPU seconds a process has used, with its waited-for children's, in user space and in the
 * kernel apart: on a disk, the kernel's share is mostly the file system creating inodes.
 */
interface CpuTime {
  user: number;
  sys: number;
}

function cpuTime(pid: number | 'self'): CpuTime {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  // utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 after the command name.
  return { user: (fields[11]! + fields[13]!) / CLOCK_TICKS, sys: (fields[12]! + fields[14]!) / CLOCK_TICKS };
}

function cpuSince(pid: number | 'self', before: CpuTime): CpuTime {
  const now = cpuTime(pid);
  return { user: now.user - before.user, sys: now.sys - before.sys };
}

const total = (t: CpuTime): number => t.user + t.sys;

/** The round that used the least CPU in all. */
function leaner(a: CpuTime | undefined, b: CpuTime): CpuTime {
  return a === undefined || total(b) < total(a) ? b : a;
}

function pipeline(commands: string[][], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const children = commands.map(([file, ...args]) => spawn(file!, args, { cwd, stdio: ['pipe', 'pipe', 'inherit'] }));
    for (let i = 0; i + 1 < children.length; i++) children[i]!.stdout!.pipe(children[i + 1]!.stdin!);
    children[0]!.stdin!.end();
    let pending = children.length;
    for (const child of children) {
      child.on('error', reject);
      child.on('close', (code) => {
        if (code !== 0) reject(new Error(`${commands.map((c) => c.join(' ')).join(' | ')} exited ${code}`));
        else if (--pending === 0) resolve();
      });
    }
    children[children.length - 1]!.stdout!.resume();
  });
}

async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

interface Measured {
  seconds: number;
  cpu: CpuTime;
}

/** The floor, in seconds: the same blobs fetched with curl and unpacked by gzip and GNU tar. */
async function floor(host: string, repo: string, layers: LayerBlob[]): Promise<{ staged: number; streamed: number; streamedCpu: CpuTime }> {
  const work = mkdtempSync(join(workParent, 'rct-bench-floor-'));
  try {
    const [staged] = await timeMs(async () => {
      await inBatches(layers, FLOOR_PARALLEL, (l) => pipeline([['curl', '-sSf', '-o', join(work, l.digest.slice(7)), `http://${host}/v2/${repo}/blobs/${l.digest}`]]));
      await inBatches(layers, FLOOR_PARALLEL, async (l) => {
        const dir = join(work, `staged-${l.digest.slice(7)}`);
        mkdirSync(dir);
        await pipeline([['gzip', '-dc', join(work, l.digest.slice(7))], ['tar', '-x', '-C', dir]]);
      });
    });
    spawnSync('sync');
    const cpuBefore = cpuTime('self');
    const [streamed] = await timeMs(() => inBatches(layers, FLOOR_PARALLEL, async (l) => {
      const dir = join(work, `streamed-${l.digest.slice(7)}`);
      mkdirSync(dir);
      await pipeline([['curl', '-sSf', `http://${host}/v2/${repo}/blobs/${l.digest}`], ['gzip', '-dc'], ['tar', '-x', '-C', dir]]);
    }));
    // The bench's own thread is idle meanwhile: what it adds is the programs' CPU.
    return { staged: staged / 1000, streamed: streamed / 1000, streamedCpu: cpuSince('self', cpuBefore) };
  } finally {
    trash.push(work);
  }
}

/** A cold pull through a fresh runcri daemon: wall seconds and the daemon's CPU seconds. */
async function runcriPull(image: string): Promise<Measured & { unpacked: number }> {
  const daemon = await TestDaemon.start({ logLevel: 'warn', dirs: makeTestDirs(workParent) });
  try {
    const before = cpuTime(daemon.pid);
    const [ms] = await timeMs(() => daemon.client.image('PullImage', { image: { image } }, { deadlineMs: 600_000 }));
    const cpu = cpuSince(daemon.pid, before);
    const status = await daemon.client.image('ImageStatus', { image: { image } });
    return { seconds: ms / 1000, cpu, unpacked: Number(status.image?.size ?? 0) };
  } finally {
    await daemon.stop();
    trash.push(daemon.dirs.base);
  }
}

/** The same cold pull through containerd's CRI plugin, when containerd and crictl are here. */
async function containerdPull(registryHost: string, image: string): Promise<Measured | undefined> {
  if (!existsSync('/usr/bin/containerd') || !existsSync(CRICTL) || !existsSync(CONTAINERD_SCRIPT)) return undefined;
  const dir = mkdtempSync(join(workParent, 'rct-bench-ctd-'));
  const env = { ...process.env, CTD_DIR: dir, MIRROR: `http://${registryHost}`, CNI_BRIDGE: 'rctbench0', CNI_SUBNET: '10.251.0.0/24' };
  const script = (action: string): void => {
    const r = spawnSync('bash', [CONTAINERD_SCRIPT, action], { env, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`containerd.sh ${action}: ${r.stderr}`);
  };
  script('start');
  try {
    const pid = Number(readFileSync(join(dir, 'containerd.pid'), 'utf8'));
    const endpoint = `unix://${dir}/containerd.sock`;
    const before = cpuTime(pid);
    const [ms] = await timeMs(() => pipeline([[CRICTL, '-r', endpoint, '-i', endpoint, '--timeout', '600s', 'pull', image]]));
    return { seconds: ms / 1000, cpu: cpuSince(pid, before) };
  } finally {
    script('stop');
    trash.push(dir);
  }
}

/** Best of alternating rounds of the floor, runcri and containerd, each after a sync. */
async function pullScenario(name: string, registryHost: string, repo: string, layers: (LayerBlob & { entries: number })[]): Promise<void> {
  await pushImage(registryHost, repo, 'v1', buildImage(layers));
  const image = `${registryHost}/${repo}:v1`;
  const compressed = layers.reduce((s, l) => s + l.size, 0);
  const entries = layers.reduce((s, l) => s + l.entries, 0);
  const best = { floor: Infinity, runcri: Infinity, ctd: Infinity, staged: Infinity, unpacked: 0 };
  let floorCpu: CpuTime | undefined;
  let runcriCpu: CpuTime | undefined;
  let ctdCpu: CpuTime | undefined;
  await quiet();
  for (let round = 0; round < ROUNDS; round++) {
    spawnSync('sync');
    const f = await floor(registryHost, repo, layers);
    best.staged = Math.min(best.staged, f.staged);
    best.floor = Math.min(best.floor, f.streamed);
    floorCpu = leaner(floorCpu, f.streamedCpu);
    spawnSync('sync');
    const r = await runcriPull(image);
    best.runcri = Math.min(best.runcri, r.seconds);
    runcriCpu = leaner(runcriCpu, r.cpu);
    best.unpacked = r.unpacked;
    spawnSync('sync');
    const c = await containerdPull(registryHost, image);
    if (c) {
      best.ctd = Math.min(best.ctd, c.seconds);
      ctdCpu = leaner(ctdCpu, c.cpu);
    }
  }
  emptyTrash();
  const gb = best.unpacked / 1e9;
  metric(`${name}_layers`, layers.length, 'layers');
  metric(`${name}_entries`, entries, 'entries');
  metric(`${name}_compressed`, compressed / 1e6, 'MB');
  metric(`${name}_unpacked`, best.unpacked / 1e6, 'MB');
  metric(`${name}_floor_staged`, best.staged, 's');
  compare(name, best.runcri, Math.min(best.floor, best.staged), 's');
  metric(`${name}_throughput`, best.unpacked / 1e6 / best.runcri, 'MB/s');
  metric(`${name}_throughput_floor`, best.unpacked / 1e6 / Math.min(best.floor, best.staged), 'MB/s');
  compare(`${name}_cpu`, total(runcriCpu!), total(floorCpu!), 'CPU-s');
  metric(`${name}_cpu_user`, runcriCpu!.user, 'CPU-s');
  metric(`${name}_cpu_sys`, runcriCpu!.sys, 'CPU-s');
  metric(`${name}_cpu_user_floor`, floorCpu!.user, 'CPU-s');
  metric(`${name}_cpu_sys_floor`, floorCpu!.sys, 'CPU-s');
  metric(`${name}_cpu_per_gb`, total(runcriCpu!) / gb, 'CPU-s/GB');
  metric(`${name}_cpu_per_gb_floor`, total(floorCpu!) / gb, 'CPU-s/GB');
  if (ctdCpu) {
    metric(`${name}_containerd`, best.ctd, 's');
    metric(`${name}_containerd_cpu`, total(ctdCpu), 'CPU-s');
    metric(`${name}_containerd_cpu_user`, ctdCpu.user, 'CPU-s');
    metric(`${name}_containerd_cpu_sys`, ctdCpu.sys, 'CPU-s');
    metric(`${name}_containerd_cpu_per_gb`, total(ctdCpu) / gb, 'CPU-s/GB');
    metric(`${name}_vs_containerd_ratio`, best.runcri / best.ctd, 'x');
    metric(`${name}_cpu_vs_containerd_ratio`, total(runcriCpu!) / total(ctdCpu), 'x');
    metric(`${name}_cpu_user_vs_containerd_ratio`, runcriCpu!.user / ctdCpu.user, 'x');
  } else {
    metric(`${name}_containerd_skipped`, 0, '(containerd or crictl not installed)');
  }
}

export async function run(): Promise<void> {
  const registry = await TestRegistry.start();
  let tmpfs: string | undefined;
  try {
    if (ON_TMPFS) {
      tmpfs = mkdtempSync('/tmp/rct-bench-fs-');
      const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8g,mode=0700', 'rct-bench', tmpfs]);
      if (mounted.status !== 0) throw new Error(`mount tmpfs: ${mounted.stderr}`);
      workParent = tmpfs;
    }
    metric('image_pull_on_tmpfs', ON_TMPFS ? 1 : 0, 'bool');
    const only = process.env.IMAGE_PULL_ONLY;
    if (!only || only === 'big') {
      const big: (LayerBlob & { entries: number })[] = [];
      for (let i = 0; i < BIG_LAYERS; i++) {
        const entries = bigLayerEntries(i);
        big.push({ ...layerFromTar(await buildTar(entries), 'gzip'), entries: entries.length });
      }
      await pullScenario('image_pull_big', registry.host, 'bench/big', big);
    }
    if (!only || only === 'small') {
      const small: (LayerBlob & { entries: number })[] = [];
      for (let i = 0; i < SMALL_LAYERS; i++) {
        const entries = smallLayerEntries(i);
        small.push({ ...layerFromTar(await buildTar(entries), 'gzip'), entries: entries.length });
      }
      await pullScenario('image_pull_small_files', registry.host, 'bench/small', small);
    }
    if (!only || only === 'whiteouts') {
      const layers = await Promise.all(whiteoutLayers().map(async (entries) => ({ ...layerFromTar(await buildTar(entries), 'gzip'), entries: entries.length })));
      await pullScenario('image_pull_whiteouts', registry.host, 'bench/whiteouts', layers);
    }
    if (only) return;
    emptyTrash();
    const many: LayerBlob[] = [await makeLayer(busyboxEntries())];
    for (let i = 1; i < MANY_LAYERS; i++) many.push(await makeLayer([{ path: `layer/${i}`, content: randomBytes(64 * 1024).toString('base64') }]));
    await pushImage(registry.host, 'bench/many', 'v1', buildImage(many));
    const daemon30 = await TestDaemon.start({ logLevel: 'warn' });
    try {
      const [manyMs] = await timeMs(() => daemon30.client.image('PullImage', { image: { image: `${registry.host}/bench/many:v1` } }));
      const f = await floor(registry.host, 'bench/many', many);
      compare('image_pull_30_layers', manyMs, Math.min(f.staged, f.streamed) * 1000, 'ms');

      const shared = [many[0]!];
      for (let i = 0; i < LIST_IMAGES; i++) {
        await pushImage(registry.host, 'bench/list', `t${i}`, buildImage(shared, { config: { Labels: { n: String(i) } } }));
      }
      for (let i = 0; i < LIST_IMAGES; i++) await daemon30.client.image('PullImage', { image: { image: `${registry.host}/bench/list:t${i}` } });
      const list: number[] = [];
      const version: number[] = [];
      for (let i = 0; i < LIST_SAMPLES; i++) {
        const [ms, res] = await timeMs(() => daemon30.client.image('ListImages', {}));
        if (res.images.length < LIST_IMAGES) throw new Error(`ListImages returned ${res.images.length} images`);
        list.push(ms);
        version.push((await timeMs(() => daemon30.client.runtime('Version', {})))[0]);
      }
      compare('image_list_200_p50', percentile(list, 50), percentile(version, 50), 'ms');
      metric('image_list_200_p99', percentile(list, 99), 'ms');
    } finally {
      await daemon30.destroy();
    }
  } finally {
    emptyTrash();
    if (tmpfs) {
      spawnSync('umount', ['-R', tmpfs]);
      spawnSync('rmdir', [tmpfs]);
    }
    await registry.stop();
  }
}
