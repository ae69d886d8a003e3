/**
 * The raw-runc floor the container scenarios are compared to: runc itself, run as a daemon
 * would run it but with no daemon in between.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeBusyboxRootfs } from '../test/helpers/busybox-bundle.js';
import type { OciSpec } from '../lib/oci/index.js';
import { timeMs } from './report.js';

/** Runs runc with its state under `root`; `stdout` may be a file descriptor to fill. */
export function runc(root: string, args: string[], stdout: 'ignore' | number = 'ignore'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/sbin/runc', [`--root=${root}`, ...args], { stdio: ['ignore', stdout, 'ignore'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc ${args.join(' ')} exited ${code}`))));
  });
}

/**
 * `runc create` + `runc start` of the daemon's own config.json for a container (`template`),
 * on a plain busybox directory instead of an overlay, each container in a cgroup of its own.
 */
export class RuncCreateStartFloor {
  private readonly root: string;
  private readonly rootfs: string;
  private rounds = 0;

  constructor(private readonly dir: string, private readonly template: OciSpec, private readonly cgroupRoot: string) {
    mkdirSync(dir, { recursive: true });
    this.root = join(dir, 'runc');
    this.rootfs = makeBusyboxRootfs(dir);
  }

  /** Times one create+start, then kills and deletes that container (untimed). */
  async sample(): Promise<number> {
    const id = `floor${this.rounds++}`;
    const bundle = join(this.dir, `b-${id}`);
    mkdirSync(bundle);
    const spec: OciSpec = { ...this.template, root: { path: this.rootfs, readonly: false }, linux: { ...this.template.linux, cgroupsPath: `${this.cgroupRoot}/floor/${id}` } };
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const [ms] = await timeMs(async () => {
      await runc(this.root, ['create', '--bundle', bundle, id]);
      await runc(this.root, ['start', id]);
    });
    await runc(this.root, ['kill', id, 'KILL']);
    await new Promise((r) => setTimeout(r, 20));
    await runc(this.root, ['delete', '--force', id]);
    return ms;
  }
}
