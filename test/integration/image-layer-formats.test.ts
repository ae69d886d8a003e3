import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { ContainerFixture, fullBusybox } from '../helpers/container-fixture.js';
import { buildImage, layerFromTar, makeLayer, pushImage, sha256, type LayerBlob } from '../helpers/oci-image.js';
import { tarBytes } from '../helpers/tar-writer.js';

/** cap_net_raw and cap_setuid, permitted and effective: a VFS_CAP_REVISION_2 value as setcap writes it (0x80 is not UTF-8). */
const CAP_NET_RAW_SETUID = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const NET_RAW_AND_SETUID = (1n << 13n) | (1n << 7n);

describe('layers as real registries serve them', () => {
  let fx: ContainerFixture;
  let base: LayerBlob;

  before(async () => {
    fx = await ContainerFixture.start({ busybox: {} });
    base = await makeLayer(fullBusybox());
  });
  after(async () => {
    await fx?.destroy();
  });

  async function push(name: string, layers: LayerBlob[]): Promise<string> {
    await pushImage(fx.registry.host, `test/${name}`, 'v1', buildImage(layers));
    return fx.image(name);
  }

  function capEff(log: string): bigint {
    const line = log.split('\n').find((l) => l.startsWith('CapEff:'));
    assert.ok(line, log);
    return BigInt(`0x${line.split(/\s+/)[1]}`);
  }

  it('runs a layer that ends right after its last entry, without end-of-archive blocks (umoci insert)', async () => {
    const inserted = layerFromTar(tarBytes([{ path: 'srv/', type: 'directory' }, { path: 'srv/inserted', content: 'by umoci\n' }], { ending: 'bare' }));
    await fx.client.image('PullImage', { image: { image: await push('inserted', [base, inserted]) } });
    const pod = await fx.runPod();
    const id = await fx.run(pod, 'inserted', { metadata: { name: 'inserted' }, command: ['cat', '/srv/inserted'] });
    assert.equal((await fx.waitExited(id)).exit_code, 0);
    assert.equal(fx.logText(pod, 'inserted'), 'by umoci\n');
    await fx.removePod(pod.id);
  });

  it('gives a program the file capabilities its layer records, as binary bytes', async () => {
    // busybox picks the applet from its name: /opt/caps/cat is cat with cap_net_raw and cap_setuid.
    const caps = await makeLayer([{ path: 'opt/caps/cat', content: readFileSync('/bin/busybox'), mode: 0o755, pax: { 'SCHILY.xattr.security.capability': CAP_NET_RAW_SETUID } }]);
    await fx.client.image('PullImage', { image: { image: await push('caps', [base, caps]) } });
    const pod = await fx.runPod();
    const user = { linux: { security_context: { run_as_user: { value: 1000 } } } };
    const withCaps = await fx.run(pod, 'caps', { metadata: { name: 'with-caps' }, command: ['/opt/caps/cat', '/proc/self/status'], ...user });
    const without = await fx.run(pod, 'caps', { metadata: { name: 'without' }, command: ['/bin/cat', '/proc/self/status'], ...user });
    await fx.waitExited(withCaps);
    await fx.waitExited(without);
    assert.equal(capEff(fx.logText(pod, 'with-caps')), NET_RAW_AND_SETUID, 'cap_net_raw and cap_setuid from the file capability');
    assert.equal(capEff(fx.logText(pod, 'without')), 0n, 'a user without file capabilities has none');
    await fx.removePod(pod.id);
  });

  it('refuses a layer cut inside an entry, a whiteout that names nothing, and content that is not the config\'s diff ID', async () => {
    const whole = tarBytes([{ path: 'a', content: 'x'.repeat(5000) }, { path: 'b', content: 'y' }]);
    const cut = layerFromTar(whole.subarray(0, 3000));
    let err = await expectCode(fx.client.image('PullImage', { image: { image: await push('cut', [cut]) } }), grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, /ends inside the data of "a"/);

    const nameless = await makeLayer([{ path: 'keep', content: 'k' }, { path: '.wh.' }]);
    err = await expectCode(fx.client.image('PullImage', { image: { image: await push('nameless-whiteout', [nameless]) } }), grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, /whiteout must name an entry/);

    const real = await makeLayer([{ path: 'real', content: 'r' }]);
    const lying = { ...real, diffId: sha256('something else') };
    err = await expectCode(fx.client.image('PullImage', { image: { image: await push('wrong-diff-id', [lying]) } }), grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, /does not match the image config's diff ID/);

    // The daemon goes on serving.
    await fx.client.image('PullImage', { image: { image: fx.image('busybox') } });
  });
});
