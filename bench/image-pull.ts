/**
 * PullImage against its floor: a cold pull+unpack of a ~200 MB, 6-layer gzip image from a
 * loopback docker-registry next to `curl` + `gzip -dc | tar -x` of the same blobs in the same
 * run; a 30-layer pull; ListImages latency with 200 images next to a Version round trip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon } from '../test/helpers/daemon.js';
import { TestRegistry } from '../test/helpers/registry.js';
import { buildImage, buildTar, busyboxEntries, layerFromTar, makeLayer, pushImage, type EntrySpec, type LayerBlob } from '../test/helpers/oci-image.js';
import { compare, metric, percentile, timeMs } from './report.js';

const BIG_LAYERS = 6;
const BIG_LAYER_BYTES = 34 * 1024 * 1024;
const MANY_LAYERS = 30;
const LIST_IMAGES = 200;
const LIST_SAMPLES = 200;
const FLOOR_PARALLEL = 3;
const ROUNDS = 2;

/** Text-like content (base64 of random bytes): compresses about as well as binaries do. */
function layerEntries(index: number): EntrySpec[] {
  const entries: EntrySpec[] = [{ path: `data${index}/`, type: 'directory' }];
  let total = 0;
  let n = 0;
  while (total < BIG_LAYER_BYTES) {
    // Mostly small files, some large, as in real images.
    const size = n % 50 === 0 ? 2 * 1024 * 1024 : 4 * 1024 + ((n * 7919) % (96 * 1024));
    entries.push({ path: `data${index}/d${n % 40}/f${n}`, content: randomBytes(Math.ceil((size * 3) / 4)).toString('base64').slice(0, size) });
    total += size;
    n++;
  }
  return entries;
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

/** The floor: the same blobs fetched with curl and unpacked by gzip and GNU tar. */
async function floor(host: string, repo: string, layers: LayerBlob[]): Promise<{ staged: number; streamed: number }> {
  const work = mkdtempSync('/tmp/rct-bench-floor-');
  try {
    const [staged] = await timeMs(async () => {
      await inBatches(layers, FLOOR_PARALLEL, (l) => pipeline([['curl', '-sSf', '-o', join(work, l.digest.slice(7)), `http://${host}/v2/${repo}/blobs/${l.digest}`]]));
      await inBatches(layers, FLOOR_PARALLEL, async (l) => {
        const dir = join(work, `staged-${l.digest.slice(7)}`);
        mkdirSync(dir);
        await pipeline([['gzip', '-dc', join(work, l.digest.slice(7))], ['tar', '-x', '-C', dir]]);
      });
    });
    const [streamed] = await timeMs(() => inBatches(layers, FLOOR_PARALLEL, async (l) => {
      const dir = join(work, `streamed-${l.digest.slice(7)}`);
      mkdirSync(dir);
      await pipeline([['curl', '-sSf', `http://${host}/v2/${repo}/blobs/${l.digest}`], ['gzip', '-dc'], ['tar', '-x', '-C', dir]]);
    }));
    return { staged, streamed };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const registry = await TestRegistry.start();
  try {
    const big: LayerBlob[] = [];
    for (let i = 0; i < BIG_LAYERS; i++) big.push(layerFromTar(await buildTar(layerEntries(i)), 'gzip'));
    const image = buildImage(big);
    await pushImage(registry.host, 'bench/big', 'v1', image);
    const compressed = big.reduce((s, l) => s + l.size, 0);
    metric('image_pull_big_compressed', compressed / 1e6, 'MB');

    // Alternating rounds after a sync, best of each: the first one after the push would
    // otherwise compete with writeback of what the push just wrote.
    let pullMs = Infinity;
    let staged = Infinity;
    let streamed = Infinity;
    let unpacked = 0;
    for (let round = 0; round < ROUNDS; round++) {
      spawnSync('sync');
      const f = await floor(registry.host, 'bench/big', big);
      staged = Math.min(staged, f.staged);
      streamed = Math.min(streamed, f.streamed);
      spawnSync('sync');
      const daemon = await TestDaemon.start({ logLevel: 'warn' });
      try {
        const [ms] = await timeMs(() => daemon.client.image('PullImage', { image: { image: `${registry.host}/bench/big:v1` } }, { deadlineMs: 600_000 }));
        pullMs = Math.min(pullMs, ms);
        const status = await daemon.client.image('ImageStatus', { image: { image: `${registry.host}/bench/big:v1` } });
        unpacked = Number(status.image?.size ?? 0);
      } finally {
        await daemon.destroy();
      }
    }
    const best = Math.min(staged, streamed);
    metric('image_pull_big_unpacked', unpacked / 1e6, 'MB');
    metric('image_pull_big_floor_staged', staged / 1000, 's');
    metric('image_pull_big_floor_streamed', streamed / 1000, 's');
    compare('image_pull_big', pullMs / 1000, best / 1000, 's');
    metric('image_pull_big_throughput', compressed / 1e6 / (pullMs / 1000), 'MB/s');
    metric('image_pull_big_throughput_floor', compressed / 1e6 / (best / 1000), 'MB/s');

    const many: LayerBlob[] = [await makeLayer(busyboxEntries())];
    for (let i = 1; i < MANY_LAYERS; i++) many.push(await makeLayer([{ path: `layer/${i}`, content: randomBytes(64 * 1024).toString('base64') }]));
    await pushImage(registry.host, 'bench/many', 'v1', buildImage(many));
    const daemon30 = await TestDaemon.start({ logLevel: 'warn' });
    try {
      const [manyMs] = await timeMs(() => daemon30.client.image('PullImage', { image: { image: `${registry.host}/bench/many:v1` } }));
      const f = await floor(registry.host, 'bench/many', many);
      compare('image_pull_30_layers', manyMs, Math.min(f.staged, f.streamed), 'ms');

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
    await registry.stop();
  }
}
