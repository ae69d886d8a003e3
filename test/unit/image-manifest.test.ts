import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chainIds, hostPlatform, parseManifest, selectPlatform, sha256Digest, type ImageIndex } from '../../lib/image/manifest.js';
import { FailedPreconditionError, NotFoundError } from '../../lib/errors/index.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;

function index(platforms: { os: string; architecture: string; variant?: string }[]): ImageIndex {
  return { kind: 'index', manifests: platforms.map((platform, i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(String(i)), size: 1, platform })) };
}

describe('manifests and platforms', () => {
  it('parses OCI and Docker manifests and indexes', () => {
    const m = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: d('c'), size: 2 }, layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('1'), size: 3 }] })), 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(m.kind, 'manifest');
    const i = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ digest: d('1'), size: 3, platform: { os: 'linux', architecture: 'amd64' } }] })), 'application/vnd.oci.image.index.v1+json');
    assert.equal(i.kind, 'index');
  });

  it('refuses schema 1, unknown layer types and malformed descriptors clearly', () => {
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 1, fsLayers: [] })), 'application/vnd.docker.distribution.manifest.v1+prettyjws'), /schema 1 is not supported/);
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: d('c'), size: 2 }, layers: [{ mediaType: 'application/x-foo', digest: d('1'), size: 3 }] })), ''), /unsupported media type/);
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: 'sha256:xyz', size: 2 }, layers: [] })), ''), FailedPreconditionError);
    assert.throws(() => parseManifest(Buffer.from('not json'), ''), /not valid JSON/);
  });

  it('picks the exact platform, prefers the exact variant, and accepts older arm variants', () => {
    const idx = index([{ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' }]);
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'amd64' }).digest, d('2'));
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, d('1'));
    assert.equal(selectPlatform(index([{ os: 'linux', architecture: 'arm', variant: 'v6' }]), { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, d('0'));
    assert.throws(() => selectPlatform(index([{ os: 'linux', architecture: 'arm', variant: 'v7' }]), { os: 'linux', architecture: 'arm', variant: 'v6' }), NotFoundError);
    assert.equal(selectPlatform(index([{ os: 'linux', architecture: 'arm64' }]), { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest, d('0'));
  });

  it('names the platforms an index has when none fits', () => {
    assert.throws(() => selectPlatform(index([{ os: 'linux', architecture: 's390x' }, { os: 'linux', architecture: 'arm', variant: 'v7' }]), { os: 'linux', architecture: 'amd64' }), /linux\/amd64.*linux\/s390x, linux\/arm\/v7/);
  });

  it('reads the node platform, or the configured one', () => {
    assert.equal(hostPlatform('').os, 'linux');
    assert.deepEqual(hostPlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.throws(() => hostPlatform('linux'), /os\/arch/);
  });

  it('computes chain IDs from diff IDs', () => {
    const [a, b] = [d('a'), d('b')];
    assert.deepEqual(chainIds([a, b]), [a, sha256Digest(`${a} ${b}`)]);
    assert.deepEqual(chainIds([]), []);
  });
});
