import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, makeTestDirs, type TestDirs } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { TestRegistry } from '../helpers/registry.js';
import { buildImage, makeLayer, pushImage, type BuiltImage } from '../helpers/oci-image.js';

const USER = { username: 'kube', password: 's3cret' };

describe('registry authentication, mirrors and pinned images', () => {
  let plain: TestRegistry;
  let basic: TestRegistry;
  let token: TestRegistry;
  let image: BuiltImage;
  let pause: BuiltImage;
  let daemon: TestDaemon;
  let dirs: TestDirs;

  before(async () => {
    plain = await TestRegistry.start();
    image = buildImage([await makeLayer([{ path: 'secret', content: 'private image' }])]);
    await pushImage(plain.host, 'private/app', 'v1', image);
    pause = buildImage([await makeLayer([{ path: 'pause', content: 'pause', mode: 0o755 }])], { config: { Entrypoint: ['/pause'] } });
    await pushImage(plain.host, 'pause', '3.10', pause);
    // The same storage served behind Basic auth and behind token auth.
    basic = await TestRegistry.start({ storageDir: plain.storageDir, auth: { kind: 'basic', users: [USER] } });
    token = await TestRegistry.start({ storageDir: plain.storageDir, auth: { kind: 'token', users: [USER] } });
    dirs = makeTestDirs();
    const credentials = join(dirs.base, 'auth.json');
    writeFileSync(credentials, JSON.stringify({ auths: { [`http://${basic.host}`]: { auth: Buffer.from(`${USER.username}:${USER.password}`).toString('base64') } } }));
    daemon = await TestDaemon.start({
      dirs,
      toml: [
        '[image]',
        `credentials_file = "${credentials}"`,
        '[[registry]]',
        'prefix = "registry.k8s.io"',
        // Never the internet: the upstream is a closed loopback port.
        'location = "127.0.0.1:9"',
        '[[registry.mirror]]',
        `location = "http://${plain.host}"`,
      ].join('\n'),
    });
  });

  after(async () => {
    await daemon?.destroy();
    for (const r of [token, basic, plain]) await r?.stop();
  });

  it('pulls through a token-auth registry with the request\'s credentials, and refuses without them', async () => {
    const ref = `${token.host}/private/app:v1`;
    const denied = await expectCode(daemon.client.image('PullImage', { image: { image: ref } }), grpc.status.FAILED_PRECONDITION);
    assert.match(denied.details, /token server .* refused anonymous access/);
    const wrong = await expectCode(daemon.client.image('PullImage', { image: { image: ref }, auth: { username: 'kube', password: 'nope' } }), grpc.status.FAILED_PRECONDITION);
    assert.match(wrong.details, /refused the credentials/);
    const res = await daemon.client.image('PullImage', { image: { image: ref }, auth: { username: USER.username, password: USER.password } });
    assert.equal(res.image_ref, image.config.digest);
    assert.ok(token.tokenRequests.some((r) => r === 'repository:private/app:pull kube'), token.tokenRequests.join('\n'));
  });

  it('accepts the CRI auth field (base64 user:password) too', async () => {
    const ref = `${token.host}/private/app:v1`;
    await daemon.client.image('RemoveImage', { image: { image: ref } });
    const res = await daemon.client.image('PullImage', { image: { image: ref }, auth: { auth: Buffer.from(`${USER.username}:${USER.password}`).toString('base64') } });
    assert.equal(res.image_ref, image.config.digest);
  });

  it('exchanges an identity token, and uses a registry token as it is', async () => {
    const ref = `${token.host}/private/app:v1`;
    await daemon.client.image('RemoveImage', { image: { image: ref } });
    const res = await daemon.client.image('PullImage', { image: { image: ref }, auth: { identity_token: `identity-${USER.username}` } });
    assert.equal(res.image_ref, image.config.digest);
    assert.ok(token.tokenRequests.includes('repository:private/app:pull kube (refresh token)'), token.tokenRequests.join('\n'));

    await daemon.client.image('RemoveImage', { image: { image: ref } });
    const url = new URL(token.tokenRealm!);
    url.searchParams.set('service', 'runcri-test-registry');
    url.searchParams.set('scope', 'repository:private/app:pull');
    const issued = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}` } });
    const { token: registryToken } = (await issued.json()) as { token: string };
    const before = token.tokenRequests.length;
    const again = await daemon.client.image('PullImage', { image: { image: ref }, auth: { registry_token: registryToken } });
    assert.equal(again.image_ref, image.config.digest);
    assert.equal(token.tokenRequests.length, before, 'a registry token needs no token request');
  });

  it('pulls through a Basic-auth registry with credentials from the credentials file', async () => {
    const res = await daemon.client.image('PullImage', { image: { image: `${basic.host}/private/app:v1` } });
    assert.equal(res.image_ref, image.config.digest);
    const wrong = await expectCode(daemon.client.image('PullImage', { image: { image: `${basic.host}/private/app:v1` }, auth: { username: 'kube', password: 'bad' } }), grpc.status.FAILED_PRECONDITION);
    assert.match(wrong.details, /pull access denied/);
  });

  it('serves registry.k8s.io/pause:3.10 from the configured mirror and reports it pinned', async () => {
    const res = await daemon.client.image('PullImage', { image: { image: 'registry.k8s.io/pause:3.10' } });
    assert.equal(res.image_ref, pause.config.digest);
    const list = await daemon.client.image('ListImages', {});
    const entry = list.images.find((i) => i.id === pause.config.digest);
    assert.equal(entry?.pinned, true);
    assert.deepEqual(entry?.repo_tags, ['registry.k8s.io/pause:3.10']);
    const other = list.images.find((i) => i.id === image.config.digest);
    assert.equal(other?.pinned, false);
    const status = await daemon.client.image('ImageStatus', { image: { image: 'registry.k8s.io/pause:3.10' } });
    assert.equal(status.image?.pinned, true);
  });
});
