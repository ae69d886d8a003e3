import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatReference, parseReference } from '../../lib/image/reference.js';
import { InvalidArgumentError } from '../../lib/errors/index.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  it('normalizes the short forms as the ecosystem does', () => {
    const cases: Record<string, string> = {
      busybox: 'docker.io/library/busybox:latest',
      'busybox:1.36': 'docker.io/library/busybox:1.36',
      'library/busybox': 'docker.io/library/busybox:latest',
      'user/app:v2': 'docker.io/user/app:v2',
      'index.docker.io/library/nginx': 'docker.io/library/nginx:latest',
      'registry.k8s.io/pause:3.10': 'registry.k8s.io/pause:3.10',
      'localhost/app': 'localhost/app:latest',
      'localhost:5000/a/b/c:tag': 'localhost:5000/a/b/c:tag',
      '127.0.0.1:5000/x': '127.0.0.1:5000/x:latest',
      [`quay.io/a/b@${DIGEST}`]: `quay.io/a/b@${DIGEST}`,
      [`busybox:1@${DIGEST}`]: `docker.io/library/busybox:1@${DIGEST}`,
      'my-registry.example.com:443/team/app.name_x:1.0-rc_1': 'my-registry.example.com:443/team/app.name_x:1.0-rc_1',
      '[::1]:5000/app': '[::1]:5000/app:latest',
    };
    for (const [input, expected] of Object.entries(cases)) {
      assert.equal(formatReference(parseReference(input)), expected, input);
    }
  });

  it('keeps a digest-only reference untagged', () => {
    const ref = parseReference(`busybox@${DIGEST}`);
    assert.equal(ref.tag, undefined);
    assert.equal(ref.digest, DIGEST);
  });

  it('refuses malformed references with INVALID_ARGUMENT', () => {
    for (const bad of ['', ' busybox', 'Busybox', 'busybox:', 'busybox:-x', 'a//b', 'busybox@sha256:abc', 'busybox@md5', 'host:port/app', `${'a'.repeat(64)}`, 'a/-b', 'app:' + 'x'.repeat(129)]) {
      assert.throws(() => parseReference(bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });
});
