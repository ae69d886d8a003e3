/**
 * The raw-runc floor the container scenarios are compared to: runc itself, run as a daemon
 * would run it but with no daemon in between.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
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
 * With `conmon`, conmon runs the create as the daemon has it do (and reports the PID on its
 * sync pipe): the part of a create+start that conmon itself costs, with no daemon in between.
 */
export class RuncCreateStartFloor {
  private readonly root: string;
  private readonly rootfs: string;
  private rounds = 0;

  constructor(private readonly dir: string, private readonly template: OciSpec, private readonly cgroupRoot: string, private readonly conmon?: string) {
    mkdirSync(dir, { recursive: true });
    mkdirSync(join(dir, 'exits'), { recursive: true });
    mkdirSync(join(dir, 'sockets'), { recursive: true });
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
      if (this.conmon) await this.createThroughConmon(id, bundle);
      else await runc(this.root, ['create', '--bundle', bundle, id]);
      await runc(this.root, ['start', id]);
    });
    await runc(this.root, ['kill', id, 'KILL']);
    await new Promise((r) => setTimeout(r, 20));
    await runc(this.root, ['delete', '--force', id]);
    return ms;
  }

  /** conmon with the daemon's arguments; resolves once it reports the container's PID. */
  private createThroughConmon(id: string, bundle: string): Promise<void> {
    const args = [
      '--api-version', '1', '-c', id, '-u', id, '-n', id, '-r', '/usr/sbin/runc', '-b', bundle,
      '-p', join(bundle, 'pidfile'), '-P', join(bundle, 'conmon.pid'), '-l', `k8s-file:${join(bundle, 'log')}`,
      '--exit-dir', join(this.dir, 'exits'), '--socket-dir-path', join(this.dir, 'sockets'), '--persist-dir', bundle,
      '--runtime-arg', `--root=${this.root}`, '--log-level', 'error',
    ];
    return new Promise((resolve, reject) => {
      const child = spawn(this.conmon!, args, { cwd: bundle, detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'], env: { ...process.env, _OCI_SYNCPIPE: '3' } });
      const sync = child.stdio[3] as Readable;
      let said = '';
      child.on('error', reject);
      sync.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        // The first message: {"data": PID} once the runtime's create is done (a negative one on failure).
        const end = said.indexOf('}');
        if (end < 0) return;
        sync.destroy();
        const pid = Number(/"data"\s*:\s*(-?\d+)/.exec(said.slice(0, end + 1))?.[1] ?? -1);
        if (pid > 0) resolve();
        else reject(new Error(`conmon could not create ${id}: ${said}`));
      });
      sync.on('end', () => reject(new Error(`conmon ended without reporting on ${id}`)));
    });
  }
}
