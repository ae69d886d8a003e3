import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon } from '../helpers/daemon.js';
import { expectCode } from '../helpers/cri-client.js';
import { TestRegistry } from '../helpers/registry.js';
import {
  buildImage, buildIndex, busyboxEntries, hostArchitecture, makeLayer, pushImage, pushIndex, type BuiltImage,
} from '../helpers/oci-image.js';

function layerDirs(daemon: TestDaemon): string[] {
  const dir = join(daemon.dirs.root, 'overlay', 'layers');
  return existsSync(dir) ? readdirSync(dir) : [];
}

function diffOf(daemon: TestDaemon, chainId: string): string {
  return join(daemon.dirs.root, 'overlay', 'layers', chainId.replace('sha256:', ''), 'diff');
}

describe('image pull from a loopback registry', () => {
  let registry: TestRegistry;
  let daemon: TestDaemon;
  let base: BuiltImage;
  let host: string;

  before(async () => {
    registry = await TestRegistry.start();
    host = registry.host;
    daemon = await TestDaemon.start();
    const busybox = await makeLayer(busyboxEntries(), 'gzip');
    base = buildImage([busybox], { config: { User: '1000:1000', Env: ['PATH=/bin', 'A=b'], Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo hi'], WorkingDir: '/tmp', StopSignal: 'SIGINT', Volumes: { '/data': {} }, ExposedPorts: { '80/tcp': {} }, Labels: { l: 'v' } } });
    await pushImage(host, 'test/busybox', '1', base);
  });

  after(async () => {
    await daemon?.destroy();
    await registry?.stop();
  });

  it('pulls an OCI image and answers with the config digest as the image ID', async () => {
    const res = await daemon.client.image('PullImage', { image: { image: `${host}/test/busybox:1` } });
    assert.equal(res.image_ref, base.config.digest);
    const status = await daemon.client.image('ImageStatus', { image: { image: `${host}/test/busybox:1` }, verbose: true });
    assert.equal(status.image?.id, base.config.digest);
    assert.deepEqual(status.image?.repo_tags, [`${host}/test/busybox:1`]);
    assert.deepEqual(status.image?.repo_digests, [`${host}/test/busybox@${base.manifest.digest}`]);
    assert.equal(status.image?.uid?.value, '1000');
    assert.equal(status.image?.pinned, false);
    assert.ok(Number(status.image?.size) > 1_000_000);
    const info = JSON.parse(status.info.info!) as { imageSpec: { config: Record<string, unknown> } };
    assert.deepEqual(info.imageSpec.config.Entrypoint, ['/bin/sh', '-c']);
    assert.equal(info.imageSpec.config.StopSignal, 'SIGINT');
  });

  it('pulls by digest alone, recording a repo digest and no tag', async () => {
    const image = buildImage([await makeLayer([{ path: 'by-digest', content: 'd' }])]);
    await pushImage(host, 'test/pinned-digest', undefined, image);
    const ref = `${host}/test/pinned-digest@${image.manifest.digest}`;
    const res = await daemon.client.image('PullImage', { image: { image: ref } });
    assert.equal(res.image_ref, image.config.digest);
    const status = await daemon.client.image('ImageStatus', { image: { image: ref } });
    assert.deepEqual(status.image?.repo_tags, []);
    assert.deepEqual(status.image?.repo_digests, [ref]);
    await daemon.client.image('RemoveImage', { image: { image: ref } });
    assert.equal((await daemon.client.image('ImageStatus', { image: { image: ref } })).image, null);
  });

  it('unpacks regular files, hard links and modes faithfully', () => {
    const diff = diffOf(daemon, base.layers[0]!.diffId);
    const busybox = statSync(join(diff, 'bin/busybox'));
    assert.equal(busybox.mode & 0o7777, 0o755);
    assert.equal(statSync(join(diff, 'bin/sh')).ino, busybox.ino, 'bin/sh is a hard link of bin/busybox');
    assert.deepEqual(readFileSync(join(diff, 'bin/busybox')), readFileSync('/bin/busybox'));
    assert.equal(statSync(join(diff, 'tmp')).mode & 0o7777, 0o1777);
    assert.equal(statSync(join(diff, 'etc/passwd')).mtimeMs, 1_700_000_000_000);
  });

  it('finds the image by ID, ID prefix, bare hex ID and repo digest', async () => {
    const id = base.config.digest;
    for (const query of [id, id.slice(0, 19), id.slice(7), id.slice(7, 19), `${host}/test/busybox@${base.manifest.digest}`]) {
      const status = await daemon.client.image('ImageStatus', { image: { image: query } });
      assert.equal(status.image?.id, id, `lookup by ${query}`);
    }
    const list = await daemon.client.image('ListImages', { filter: { image: { image: `${host}/test/busybox:1` } } });
    assert.deepEqual(list.images.map((i) => i.id), [id]);
  });

  it('answers an unknown image with an empty status, and a malformed reference with INVALID_ARGUMENT', async () => {
    const status = await daemon.client.image('ImageStatus', { image: { image: `${host}/test/nothing:1` } });
    assert.equal(status.image, null);
    await expectCode(daemon.client.image('PullImage', { image: { image: 'UPPER/Case::bad' } }), grpc.status.INVALID_ARGUMENT);
    const missing = await expectCode(daemon.client.image('PullImage', { image: { image: `${host}/test/nothing:1` } }), grpc.status.NOT_FOUND);
    assert.match(missing.details, /manifest/);
    await daemon.client.image('RemoveImage', { image: { image: `${host}/test/nothing:1` } });
  });

  it('pulls zstd and uncompressed layers, and Docker schema2 manifests', async () => {
    const zstd = await makeLayer([{ path: 'z/file', content: 'zstd layer' }], 'zstd');
    const plain = await makeLayer([{ path: 'p/file', content: 'plain layer' }], 'none');
    const oci = buildImage([zstd, plain]);
    await pushImage(host, 'test/mixed', 'v1', oci);
    const docker = buildImage([await makeLayer([{ path: 'd/file', content: 'docker' }], 'gzip', 'docker'), await makeLayer([{ path: 'd/plain', content: 'docker plain' }], 'none', 'docker')], { flavor: 'docker' });
    await pushImage(host, 'test/docker', 'v1', docker);
    for (const [ref, image] of [[`${host}/test/mixed:v1`, oci], [`${host}/test/docker:v1`, docker]] as const) {
      const res = await daemon.client.image('PullImage', { image: { image: ref } });
      assert.equal(res.image_ref, image.config.digest);
      const status = await daemon.client.image('ImageStatus', { image: { image: ref } });
      assert.equal(status.image?.id, image.config.digest);
    }
    const mixed = await daemon.client.image('ImageStatus', { image: { image: `${host}/test/mixed:v1` }, verbose: true });
    const chain = (JSON.parse(mixed.info.info!) as { chainIDs: string[] }).chainIDs;
    assert.equal(readFileSync(join(diffOf(daemon, chain[0]!), 'z/file'), 'utf8'), 'zstd layer');
    assert.equal(readFileSync(join(diffOf(daemon, chain[1]!), 'p/file'), 'utf8'), 'plain layer');
  });

  it('picks this node\'s platform from a multi-arch index, and names the platforms when none fits', async () => {
    const arch = hostArchitecture();
    const mine = buildImage([await makeLayer([{ path: 'arch', content: arch }])], { architecture: arch });
    const other = buildImage([await makeLayer([{ path: 'arch', content: 's390x' }])], { architecture: 's390x' });
    const index = buildIndex([{ image: other, platform: { os: 'linux', architecture: 's390x' } }, { image: mine, platform: { os: 'linux', architecture: arch } }]);
    await pushIndex(host, 'test/multi', 'v1', index, [mine, other]);
    const res = await daemon.client.image('PullImage', { image: { image: `${host}/test/multi:v1` } });
    assert.equal(res.image_ref, mine.config.digest);
    const status = await daemon.client.image('ImageStatus', { image: { image: `${host}/test/multi@${index.digest}` } });
    assert.equal(status.image?.id, mine.config.digest, 'repo digest is the index digest');

    const foreign = buildIndex([{ image: other, platform: { os: 'linux', architecture: 's390x' } }], 'docker');
    await pushIndex(host, 'test/foreign', 'v1', foreign, [other]);
    const err = await expectCode(daemon.client.image('PullImage', { image: { image: `${host}/test/foreign:v1` } }), grpc.status.NOT_FOUND);
    assert.match(err.details, /linux\/s390x/);
  });

  it('turns whiteouts into overlay whiteouts and opaque markers into the opaque xattr', async () => {
    const lower = await makeLayer([{ path: 'gone', content: 'x' }, { path: 'dir/', type: 'directory' }, { path: 'dir/old', content: 'old' }]);
    const upper = await makeLayer([{ path: '.wh.gone' }, { path: 'dir/', type: 'directory' }, { path: 'dir/.wh..wh..opq' }, { path: 'dir/new', content: 'new' }, { path: 'link', type: 'symlink', linkname: '/etc/passwd' }]);
    const image = buildImage([lower, upper]);
    await pushImage(host, 'test/whiteout', 'v1', image);
    await daemon.client.image('PullImage', { image: { image: `${host}/test/whiteout:v1` } });
    const status = await daemon.client.image('ImageStatus', { image: { image: `${host}/test/whiteout:v1` }, verbose: true });
    const chain = (JSON.parse(status.info.info!) as { chainIDs: string[] }).chainIDs;
    const diff = diffOf(daemon, chain[1]!);
    const whiteout = lstatSync(join(diff, 'gone'));
    assert.ok(whiteout.isCharacterDevice());
    assert.equal(whiteout.rdev, 0);
    assert.ok(!existsSync(join(diff, '.wh.gone')));
    const xattr = spawnSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(diff, 'dir')], { encoding: 'utf8' });
    assert.equal(xattr.stdout, 'y');
    assert.equal(lstatSync(join(diff, 'link')).isSymbolicLink(), true);
  });

  it('refuses layers that would write outside their directory, and keeps nothing of them', async () => {
    const before = layerDirs(daemon).length;
    const cases = {
      dotdot: [{ path: '../escape', content: 'x' }],
      'symlink-then-write': [{ path: 'evil', type: 'symlink' as const, linkname: '/tmp' }, { path: 'evil/rct-escaped', content: 'x' }],
      'hardlink-outside': [{ path: 'h', type: 'link' as const, linkname: '../../../../etc/passwd' }],
    };
    for (const [name, entries] of Object.entries(cases)) {
      const image = buildImage([await makeLayer(entries)]);
      await pushImage(host, `test/escape-${name}`, 'v1', image);
      const err = await expectCode(daemon.client.image('PullImage', { image: { image: `${host}/test/escape-${name}:v1` } }), grpc.status.FAILED_PRECONDITION);
      assert.match(err.details, /refused/, name);
    }
    assert.ok(!existsSync('/tmp/rct-escaped'));
    assert.equal(layerDirs(daemon).length, before);
    const absolute = buildImage([await makeLayer([{ path: '/abs/file', content: 'contained' }])]);
    await pushImage(host, 'test/absolute', 'v1', absolute);
    await daemon.client.image('PullImage', { image: { image: `${host}/test/absolute:v1` } });
    const status = await daemon.client.image('ImageStatus', { image: { image: `${host}/test/absolute:v1` }, verbose: true });
    const chain = (JSON.parse(status.info.info!) as { chainIDs: string[] }).chainIDs;
    assert.equal(readFileSync(join(diffOf(daemon, chain[0]!), 'abs/file'), 'utf8'), 'contained');
  });

  it('fails a pull whose blob does not match its digest, and stores nothing', async () => {
    const good = await makeLayer([{ path: 'good', content: 'good content' }]);
    const image = buildImage([good]);
    await pushImage(host, 'test/corrupt', 'v1', image);
    // Another valid layer served under the first one's digest.
    const impostor = await makeLayer([{ path: 'bad', content: 'tampered content!' }]);
    writeFileSync(registry.blobPath(good.digest), impostor.data);
    const before = layerDirs(daemon).length;
    const err = await expectCode(daemon.client.image('PullImage', { image: { image: `${host}/test/corrupt:v1` } }), grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, new RegExp(`layer ${good.digest}`));
    assert.equal(layerDirs(daemon).length, before);
    const status = await daemon.client.image('ImageStatus', { image: { image: `${host}/test/corrupt:v1` } });
    assert.equal(status.image, null);
    assert.deepEqual(readdirSync(join(daemon.dirs.root, 'overlay', 'tmp')), []);
  });

  it('removes one tag of a multi-tag image, then the image and its layers', async () => {
    const image = buildImage([await makeLayer([{ path: 'tagged', content: 'two tags' }])]);
    await pushImage(host, 'test/tags', 'a', image);
    await pushImage(host, 'test/tags', 'b', image);
    await daemon.client.image('PullImage', { image: { image: `${host}/test/tags:a` } });
    await daemon.client.image('PullImage', { image: { image: `${host}/test/tags:b` } });
    let status = await daemon.client.image('ImageStatus', { image: { image: image.config.digest }, verbose: true });
    assert.deepEqual(status.image?.repo_tags.sort(), [`${host}/test/tags:a`, `${host}/test/tags:b`]);
    const chain = (JSON.parse(status.info.info!) as { chainIDs: string[] }).chainIDs;
    await daemon.client.image('RemoveImage', { image: { image: `${host}/test/tags:a` } });
    status = await daemon.client.image('ImageStatus', { image: { image: image.config.digest } });
    assert.deepEqual(status.image?.repo_tags, [`${host}/test/tags:b`]);
    assert.ok(existsSync(diffOf(daemon, chain[0]!)));
    await daemon.client.image('RemoveImage', { image: { image: `${host}/test/tags:b` } });
    status = await daemon.client.image('ImageStatus', { image: { image: image.config.digest } });
    assert.equal(status.image, null);
    assert.ok(!existsSync(diffOf(daemon, chain[0]!)), 'the layer no image uses is collected');
    await daemon.client.image('RemoveImage', { image: { image: image.config.digest } });
  });

  it('moves a tag to the newly pulled image and keeps the old one untagged', async () => {
    const first = buildImage([await makeLayer([{ path: 'v', content: '1' }])]);
    const second = buildImage([await makeLayer([{ path: 'v', content: '2' }])]);
    await pushImage(host, 'test/moving', 'latest', first);
    await daemon.client.image('PullImage', { image: { image: `${host}/test/moving` } });
    await pushImage(host, 'test/moving', 'latest', second);
    await daemon.client.image('PullImage', { image: { image: `${host}/test/moving:latest` } });
    const byTag = await daemon.client.image('ImageStatus', { image: { image: `${host}/test/moving:latest` } });
    assert.equal(byTag.image?.id, second.config.digest);
    const old = await daemon.client.image('ImageStatus', { image: { image: first.config.digest } });
    assert.deepEqual(old.image?.repo_tags, []);
    assert.deepEqual(old.image?.repo_digests, [`${host}/test/moving@${first.manifest.digest}`]);
    await daemon.client.image('RemoveImage', { image: { image: first.config.digest } });
    assert.equal((await daemon.client.image('ImageStatus', { image: { image: first.config.digest } })).image, null);
  });

  it('reports the layer store in ImageFsInfo', async () => {
    const res = await daemon.client.image('ImageFsInfo', {});
    const fs = res.image_filesystems[0]!;
    assert.equal(fs.fs_id?.mountpoint, join(daemon.dirs.root, 'overlay'));
    assert.ok(Number(fs.used_bytes?.value) > 1_000_000);
    assert.ok(Number(fs.inodes_used?.value) > 10);
  });
});
