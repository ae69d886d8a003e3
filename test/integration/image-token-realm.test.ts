import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { TestRegistry } from '../helpers/registry.js';
import { buildImage, makeLayer, pushImage, type BuiltImage } from '../helpers/oci-image.js';

const USER = { username: 'kube', password: 's3cret' };

/**
 * An HTTPS registry whose token server (named by the registry's own 401 answer) is plain HTTP:
 * the password must not travel in the clear unless the operator marked the registry insecure.
 */
describe('credentials never go to a plain-HTTP token realm of an HTTPS registry', () => {
  let plain: TestRegistry;
  let trusted: TestRegistry;
  let insecure: TestRegistry;
  let image: BuiltImage;
  let daemon: TestDaemon;

  before(async () => {
    plain = await TestRegistry.start();
    image = buildImage([await makeLayer([{ path: 'secret', content: 'behind a token' }])]);
    await pushImage(plain.host, 'private/app', 'v1', image);
    // The same storage over HTTPS with token auth whose realm is http://127.0.0.1:PORT/token.
    trusted = await TestRegistry.start({ storageDir: plain.storageDir, tls: true, auth: { kind: 'token', users: [USER] } });
    insecure = await TestRegistry.start({ storageDir: plain.storageDir, tls: true, auth: { kind: 'token', users: [USER] } });
    assert.match(trusted.tokenRealm ?? '', /^http:\/\//);
    // The daemon verifies `trusted`'s certificate (as a real registry's would verify); `insecure` is marked so.
    process.env.NODE_EXTRA_CA_CERTS = trusted.tlsCertificate;
    daemon = await TestDaemon.start({ toml: ['[[registry]]', `prefix = "${insecure.host}"`, 'insecure = true'].join('\n') });
    delete process.env.NODE_EXTRA_CA_CERTS;
  });

  after(async () => {
    await daemon?.destroy();
    for (const r of [insecure, trusted, plain]) await r?.stop();
  });

  it('refuses to send a password to the HTTP realm, naming the realm, and the token server hears nothing', async () => {
    const err = await expectCode(daemon.client.image('PullImage', { image: { image: `${trusted.host}/private/app:v1` }, auth: USER }), grpc.status.FAILED_PRECONDITION);
    assert.ok(err.details.includes(trusted.tokenRealm!), err.details);
    assert.match(err.details, /insecure/);
    assert.deepEqual(trusted.tokenRequests, []);
  });

  it('refuses to send an identity token there too', async () => {
    const err = await expectCode(daemon.client.image('PullImage', { image: { image: `${trusted.host}/private/app:v1` }, auth: { identity_token: `identity-${USER.username}` } }), grpc.status.FAILED_PRECONDITION);
    assert.ok(err.details.includes(trusted.tokenRealm!), err.details);
    assert.deepEqual(trusted.tokenRequests, []);
  });

  it('still asks that realm for an anonymous token (no secret to leak)', async () => {
    const err = await expectCode(daemon.client.image('PullImage', { image: { image: `${trusted.host}/private/app:v1` } }), grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, /refused anonymous access/);
    assert.deepEqual(trusted.tokenRequests, ['repository:private/app:pull anonymous']);
  });

  it('sends the credentials when the registry is marked insecure, and pulls', async () => {
    const res = await daemon.client.image('PullImage', { image: { image: `${insecure.host}/private/app:v1` }, auth: USER });
    assert.equal(res.image_ref, image.config.digest);
    assert.deepEqual(insecure.tokenRequests, [`repository:private/app:pull ${USER.username}`]);
  });
});
