import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bundlesDir } from '../../lib/container/defaults.js';

/** The ID-mapped mount helper `make` builds; built here too when a test run skipped make. */
export function ensureIdmapHelper(): void {
  const repo = dirname(bundlesDir());
  const binary = join(repo, 'native', 'idmap-mount');
  if (existsSync(binary)) return;
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', binary, join(repo, 'native', 'idmap-mount.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `building native/idmap-mount failed: ${cc.stderr}`);
}
