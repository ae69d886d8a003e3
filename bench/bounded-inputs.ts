/**
 * The daemon's RSS while a registry sends what it should not: a 2 GiB layer (streamed to disk),
 * a manifest that never ends (cut at its 4 MiB cap); and while a client holds 1,000 ExecSync
 * calls at once. Each prints the RSS before and the peak (sampled every 10 ms); the floor for
 * the layer is its size, which the daemon must never hold.
 */
import { ContainerFixture } from '../test/helpers/container-fixture.js';
import { TestDaemon } from '../test/helpers/daemon.js';
import { watchRss } from '../test/helpers/leaks.js';
import { StreamRegistry, endlessManifest } from '../test/helpers/stream-registry.js';
import { metric } from './report.js';

const MiB = 1024 * 1024;
const LAYER_BYTES = Number(process.env.RUNCRI_BENCH_LAYER_MIB || 2048) * MiB;
const EXECS = 1000;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function pulls(): Promise<void> {
  const registry = await StreamRegistry.start();
  const daemon = await TestDaemon.start({ logLevel: 'warn' });
  try {
    const layer = await registry.bigLayerImage('big/layer', 'v1', LAYER_BYTES);
    const started = Date.now();
    const big = await watchRss(daemon.pid, () => daemon.client.image('PullImage', { image: { image: `${registry.host}/big/layer:v1` } }));
    const seconds = (Date.now() - started) / 1000;
    metric('layer_pull_size', layer.size / MiB, 'MiB');
    metric('layer_pull_throughput', layer.size / MiB / seconds, 'MiB/s');
    metric('layer_pull_rss_before', big.baseline / MiB, 'MiB');
    metric('layer_pull_rss_peak', big.peak / MiB, 'MiB');
    metric('layer_pull_rss_growth', (big.peak - big.baseline) / MiB, 'MiB');
    await daemon.client.image('RemoveImage', { image: { image: `${registry.host}/big/layer:v1` } });

    registry.manifest('huge/manifest', 'v1', OCI_MANIFEST, endlessManifest(1024 * MiB));
    const huge = await watchRss(daemon.pid, () => daemon.client.image('PullImage', { image: { image: `${registry.host}/huge/manifest:v1` } }).catch((err: Error) => err));
    metric('endless_manifest_refused', huge.result instanceof Error && /byte limit/.test(huge.result.message) ? 1 : 0, 'bool');
    metric('endless_manifest_bytes_read', (registry.sent.get('/v2/huge/manifest/manifests/v1') ?? 0) / MiB, 'MiB');
    metric('endless_manifest_rss_growth', (huge.peak - huge.baseline) / MiB, 'MiB');
  } finally {
    await daemon.destroy();
    await registry.stop();
  }
}

async function execs(): Promise<void> {
  const fx = await ContainerFixture.start({ plain: { Cmd: ['sleep', '100000'] } });
  try {
    const pod = await fx.runPod();
    const id = await fx.run(pod, 'plain', { metadata: { name: 'execs' } });
    await fx.exec(id, ['true']);
    const started = Date.now();
    const r = await watchRss(fx.daemon.pid, () => Promise.all(Array.from({ length: EXECS }, (_, i) => fx.exec(id, ['sh', '-c', `echo ${i}`], 120))));
    const wrong = r.result.filter((a, i) => a.stdout !== `${i}\n`).length;
    metric('execsync_concurrent', EXECS, 'count');
    metric('execsync_concurrent_seconds', (Date.now() - started) / 1000, 's');
    metric('execsync_concurrent_wrong_answers', wrong, 'count');
    metric('execsync_concurrent_rss_before', r.baseline / MiB, 'MiB');
    metric('execsync_concurrent_rss_peak', r.peak / MiB, 'MiB');
    metric('execsync_concurrent_rss_growth', (r.peak - r.baseline) / MiB, 'MiB');
  } finally {
    await fx.destroy();
  }
}

export async function run(): Promise<void> {
  await pulls();
  await execs();
}
