import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endpointsFor } from '../../lib/image/endpoints.js';
import { parseReference } from '../../lib/image/reference.js';
import { parseChallenge, basicCredentials, credentialsFromFile } from '../../lib/image/credentials.js';
import type { RegistryEntry } from '../../lib/config/index.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const entry = (e: Partial<RegistryEntry>): RegistryEntry => ({ prefix: '', location: '', insecure: false, blocked: false, mirrors: [], ...e });

describe('registry endpoints, mirrors and credentials', () => {
  it('goes to Docker Hub\'s API host over HTTPS by default, and allows HTTP fallback only for loopback', () => {
    assert.deepEqual(endpointsFor(parseReference('busybox'), []), [{ host: 'registry-1.docker.io', repo: 'library/busybox', schemes: ['https'], insecure: false, mirror: false }]);
    assert.deepEqual(endpointsFor(parseReference('127.0.0.1:5000/app'), [])[0]!.schemes, ['https', 'http']);
    assert.deepEqual(endpointsFor(parseReference('quay.io/app'), [])[0]!.schemes, ['https']);
  });

  it('tries mirrors in order before the upstream, with the prefix replaced', () => {
    const regs = [
      entry({ prefix: 'registry.k8s.io', location: 'registry.k8s.io', mirrors: [{ location: 'http://127.0.0.1:5000', insecure: false }, { location: 'mirror.example/k8s', insecure: true }] }),
      entry({ prefix: 'registry.k8s.io/special', location: 'other.example/x' }),
    ];
    const eps = endpointsFor(parseReference('registry.k8s.io/pause:3.10'), regs);
    assert.deepEqual(eps.map((e) => [e.host, e.repo, e.schemes.join('+'), e.mirror]), [
      ['127.0.0.1:5000', 'pause', 'http', true],
      ['mirror.example', 'k8s/pause', 'https+http', true],
      ['registry.k8s.io', 'pause', 'https', false],
    ]);
    assert.deepEqual(eps.map((e) => e.insecure), [false, true, false], 'only endpoints marked insecure skip certificate verification');
    const special = endpointsFor(parseReference('registry.k8s.io/special/app'), regs);
    assert.deepEqual(special.map((e) => [e.host, e.repo]), [['other.example', 'x/app']], 'the longest prefix wins');
  });

  it('refuses a blocked registry and leaves registries without an entry alone', () => {
    assert.throws(() => endpointsFor(parseReference('evil.example/app'), [entry({ prefix: 'evil.example', location: 'evil.example', blocked: true })]), /blocked/);
    assert.equal(endpointsFor(parseReference('evil.example.org/app'), [entry({ prefix: 'evil.example', location: 'evil.example', blocked: true })])[0]!.host, 'evil.example.org');
  });

  it('parses bearer and basic challenges', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
      scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
    });
    assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
  });

  it('decodes credentials from auth or username/password, and reads a docker config.json by host', () => {
    assert.deepEqual(basicCredentials({ auth: Buffer.from('u:p:w').toString('base64') }), { username: 'u', password: 'p:w' });
    assert.deepEqual(basicCredentials({ username: 'a', password: 'b' }), { username: 'a', password: 'b' });
    const dir = mkdtempSync('/tmp/rct-unit-');
    try {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: 'aHViOmh1Yg==' }, 'quay.io': { username: 'q', password: 'r' } } }));
      assert.deepEqual(credentialsFromFile(file, 'registry-1.docker.io'), { auth: 'aHViOmh1Yg==' });
      assert.deepEqual(credentialsFromFile(file, 'quay.io'), { username: 'q', password: 'r' });
      assert.equal(credentialsFromFile(file, 'ghcr.io'), undefined);
      assert.equal(credentialsFromFile(join(dir, 'absent.json'), 'quay.io'), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
