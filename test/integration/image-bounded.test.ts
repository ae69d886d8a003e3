/**
 * What a registry sends cannot decide how much the daemon holds: a manifest or image config
 * that never ends is cut at its cap with a clear error, and a layer far larger than the
 * daemon's memory is streamed to disk. The registry is the test's own (test/helpers/
 * stream-registry.ts), generating its bodies as it sends them; the daemon's RSS is sampled
 * from /proc while each pull runs. (bench/bounded-inputs pulls a 2 GiB layer.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { watchRss } from '../helpers/leaks.js';
import { sha256 } from '../helpers/oci-image.js';
import { StreamRegistry, endlessManifest } from '../helpers/stream-registry.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from '../../lib/image/manifest.js';

const MiB = 1024 * 1024;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** What one endless manifest or config may add to the daemon's RSS: its cap, and room for the parse of one. */
const DOCUMENT_CEILING = 48 * MiB;
/** What pulling a layer several times that size may add: the stream's buffers and the unpack worker. */
const LAYER_CEILING = 96 * MiB;
const LAYER_BYTES = 384 * MiB;

let daemon: TestDaemon;
let registry: StreamRegistry;

before(async () => {
  registry = await StreamRegistry.start();
  daemon = await TestDaemon.start({ logLevel: 'warn' });
  // The pull path's code and buffers once, so the first measured pull is not charged for them.
  await registry.bigLayerImage('warm/up', 'v1', 1024 * 1024);
  await daemon.client.image('PullImage', { image: { image: `${registry.host}/warm/up:v1` } });
});

after(async () => {
  await daemon?.destroy();
  await registry?.stop();
});

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

test(`a manifest that never ends is refused at ${MAX_MANIFEST_BYTES / MiB} MiB with a clear error, and costs the daemon less than ${DOCUMENT_CEILING / MiB} MiB`, async (t) => {
  registry.manifest('huge/manifest', 'v1', OCI_MANIFEST, endlessManifest(512 * MiB));
  const { result: err, baseline, peak } = await watchRss(daemon.pid, () => expectCode(daemon.client.image('PullImage', { image: { image: `${registry.host}/huge/manifest:v1` } }), grpc.status.FAILED_PRECONDITION));
  assert.match(err.details, new RegExp(`over the ${MAX_MANIFEST_BYTES}-byte limit`));
  const sent = registry.sent.get('/v2/huge/manifest/manifests/v1') ?? 0;
  t.diagnostic(`registry sent ${mib(sent)} before the daemon stopped reading; daemon RSS ${mib(baseline)} before, peak ${mib(peak)} (+${mib(peak - baseline)})`);
  assert.ok(sent < 64 * MiB, `the daemon read on: ${mib(sent)} sent`);
  assert.ok(peak - baseline < DOCUMENT_CEILING, `daemon RSS grew ${mib(peak - baseline)}`);
  assert.ok((await daemon.client.runtime('Version', {})).runtime_name);
});

test(`an image config that never ends is refused at ${MAX_CONFIG_BYTES / MiB} MiB, and costs the daemon less than ${DOCUMENT_CEILING / MiB} MiB`, async (t) => {
  const configDigest = sha256('a config that never ends');
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 1024 },
    layers: [],
  }));
  registry.manifest('huge/config', 'v1', OCI_MANIFEST, manifest);
  registry.blob('huge/config', configDigest, endlessManifest(512 * MiB));
  const { result: err, baseline, peak } = await watchRss(daemon.pid, () => expectCode(daemon.client.image('PullImage', { image: { image: `${registry.host}/huge/config:v1` } }), grpc.status.FAILED_PRECONDITION));
  assert.match(err.details, new RegExp(`over the ${MAX_CONFIG_BYTES}-byte limit`));
  t.diagnostic(`daemon RSS ${mib(baseline)} before, peak ${mib(peak)} (+${mib(peak - baseline)})`);
  assert.ok(peak - baseline < DOCUMENT_CEILING, `daemon RSS grew ${mib(peak - baseline)}`);
});

test(`a ${LAYER_BYTES / MiB} MiB layer is streamed to disk: the daemon's RSS grows less than ${LAYER_CEILING / MiB} MiB`, async (t) => {
  const layer = await registry.bigLayerImage('big/layer', 'v1', LAYER_BYTES);
  const started = Date.now();
  const { baseline, peak } = await watchRss(daemon.pid, () => daemon.client.image('PullImage', { image: { image: `${registry.host}/big/layer:v1` } }));
  t.diagnostic(`${mib(layer.size)} pulled in ${Date.now() - started} ms; daemon RSS ${mib(baseline)} before, peak ${mib(peak)} (+${mib(peak - baseline)})`);
  assert.ok(peak - baseline < LAYER_CEILING, `daemon RSS grew ${mib(peak - baseline)}`);
  const status = await daemon.client.image('ImageStatus', { image: { image: `${registry.host}/big/layer:v1` } });
  assert.ok(Number(status.image!.size) >= LAYER_BYTES);
  const unpacked = join(daemon.dirs.root, 'overlay', 'layers', layer.diffId.slice('sha256:'.length));
  assert.equal(statSync(join(unpacked, 'diff', 'big.bin')).size, LAYER_BYTES);
  await daemon.client.image('RemoveImage', { image: { image: `${registry.host}/big/layer:v1` } });
});
