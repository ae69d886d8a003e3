import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bundlesDir } from '../../lib/container/defaults.js';

/** A helper of native/ that `make` builds; built here too when a test run skipped make. */
export function ensureNativeHelper(name: 'idmap-mount' | 'pty-exec' | 'mount-helper' | 'spawn-helper'): string {
  const repo = dirname(bundlesDir());
  const binary = join(repo, 'native', name);
  if (existsSync(binary)) return binary;
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', binary, join(repo, 'native', `${name}.c`)], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `building native/${name} failed: ${cc.stderr}`);
  return binary;
}

/** The ID-mapped mount helper user-namespaced pods need. */
export function ensureIdmapHelper(): void {
  ensureNativeHelper('idmap-mount');
}
