import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { TestRegistry } from '../helpers/registry.js';
import { buildImage, makeLayer, pushImage, type BuiltImage } from '../helpers/oci-image.js';

describe('insecure registries: HTTPS without verification, then plain HTTP, only where configured', () => {
  let plain: TestRegistry;
  let trustedTls: TestRegistry;
  let untrustedTls: TestRegistry;
  let image: BuiltImage;
  let daemon: TestDaemon;

  before(async () => {
    plain = await TestRegistry.start();
    image = buildImage([await makeLayer([{ path: 'hello', content: 'over tls' }])]);
    await pushImage(plain.host, 'tls/app', 'v1', image);
    // Two HTTPS registries with self-signed certificates serving the same storage: one marked insecure, one not.
    trustedTls = await TestRegistry.start({ storageDir: plain.storageDir, tls: true });
    untrustedTls = await TestRegistry.start({ storageDir: plain.storageDir, tls: true });
    daemon = await TestDaemon.start({
      toml: [
        '[[registry]]',
        `prefix = "${trustedTls.host}"`,
        'insecure = true',
        '[[registry]]',
        `prefix = "${plain.host}"`,
        'insecure = true',
        '[[registry]]',
        'prefix = "mirrored.example"',
        // Never the internet: the upstream is a closed loopback port.
        'location = "127.0.0.1:9"',
        '[[registry.mirror]]',
        `location = "${trustedTls.host}"`,
        'insecure = true',
      ].join('\n'),
    });
  });

  after(async () => {
    await daemon?.destroy();
    for (const r of [untrustedTls, trustedTls, plain]) await r?.stop();
  });

  it('pulls over HTTPS with a self-signed certificate from a registry marked insecure', async () => {
    const res = await daemon.client.image('PullImage', { image: { image: `${trustedTls.host}/tls/app:v1` } });
    assert.equal(res.image_ref, image.config.digest);
  });

  it('refuses a self-signed certificate from a registry not marked insecure, naming the certificate, without falling back to HTTP', async () => {
    const err = await expectCode(daemon.client.image('PullImage', { image: { image: `${untrustedTls.host}/tls/app:v1` } }), grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, /certificate/);
    assert.match(err.details, /insecure/);
  });

  it('pulls through an insecure HTTPS mirror with a self-signed certificate', async () => {
    const res = await daemon.client.image('PullImage', { image: { image: 'mirrored.example/tls/app:v1' } });
    assert.equal(res.image_ref, image.config.digest);
  });

  it('still pulls from an insecure registry that speaks plain HTTP', async () => {
    await daemon.client.image('RemoveImage', { image: { image: `${trustedTls.host}/tls/app:v1` } });
    await daemon.client.image('RemoveImage', { image: { image: 'mirrored.example/tls/app:v1' } });
    const res = await daemon.client.image('PullImage', { image: { image: `${plain.host}/tls/app:v1` } });
    assert.equal(res.image_ref, image.config.digest);
  });
});
