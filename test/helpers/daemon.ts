import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CriClient } from './cri-client.js';
import { ensureNativeHelper } from './native.js';
import { unmountBelow } from './system.js';
import { DAEMON_NODE_FLAGS } from '../../lib/cli/node-flags.js';

const REPO_DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The program bin/runcri runs: the bundled daemon, started from its code cache. */
export const DAEMON_MAIN = join(REPO_DIST, 'bundle', 'boot.cjs');

export interface DaemonOptions {
  /** Extra TOML appended to the generated config file. */
  toml?: string;
  /** Extra command-line flags. */
  args?: string[];
  /** Reuse the directories of an earlier daemon (restart tests). */
  dirs?: TestDirs;
  logLevel?: string;
  /** Extra environment of the daemon (RUNCRI_FAILPOINTS, for one). */
  env?: Record<string, string>;
  /** Return only once every runtime handler's probe has ended (default); false: as soon as it answers. */
  waitForProbes?: boolean;
}

export interface TestDirs {
  base: string;
  root: string;
  state: string;
  socket: string;
  cniConf: string;
  configFile: string;
}

export function makeTestDirs(parent = '/tmp'): TestDirs {
  // Short paths: Unix socket paths (conmon's attach socket among them) are limited to 108 bytes.
  const base = mkdtempSync(join(parent, 'rct-'));
  const dirs = { base, root: join(base, 'root'), state: join(base, 'run'), socket: join(base, 'run', 'runcri.sock'), cniConf: join(base, 'cni'), configFile: join(base, 'runcri.toml') };
  mkdirSync(dirs.cniConf, { recursive: true });
  return dirs;
}

/** The arguments of `node` that run a daemon on `dirs`; writes its config file. */
export function daemonArgs(dirs: TestDirs, options: DaemonOptions = {}): string[] {
  writeFileSync(dirs.configFile, options.toml ?? '');
  return [
    ...DAEMON_NODE_FLAGS, DAEMON_MAIN, 'serve', '--config', dirs.configFile,
    '--root', dirs.root, '--state-dir', dirs.state, '--socket', dirs.socket,
    '--cni-conf-dir', dirs.cniConf, '--log-level', options.logLevel ?? process.env.RUNCRI_TEST_LOG_LEVEL ?? 'info',
    ...(options.args ?? []),
  ];
}

/** A runcri daemon started from the build in temporary directories, stopped by its PID. */
export class TestDaemon {
  private exited: Promise<number | null>;
  stderr = '';

  private constructor(readonly dirs: TestDirs, readonly process: ChildProcess, readonly client: CriClient) {
    this.exited = new Promise((resolve) => process.once('exit', (code) => resolve(code)));
  }

  static async start(options: DaemonOptions = {}): Promise<TestDaemon> {
    // The daemon finds its helpers at start: an exec with a tty needs this one.
    ensureNativeHelper('pty-exec');
    // and its mounts go through this one (mount(8) when it is missing).
    ensureNativeHelper('mount-helper');
    // and it starts programs (runc, conmon, CNI plugins) through this one (itself when it is missing).
    ensureNativeHelper('spawn-helper');
    const dirs = options.dirs ?? makeTestDirs();
    const child = spawn(process.execPath, daemonArgs(dirs, options), { stdio: ['ignore', 'ignore', 'pipe'], ...(options.env ? { env: { ...process.env, ...options.env } } : {}) });
    const client = new CriClient(dirs.socket);
    const daemon = new TestDaemon(dirs, child, client);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      daemon.stderr += chunk;
      if (process.env.RUNCRI_TEST_LOGS) process.stderr.write(chunk);
    });
    await daemon.waitReady();
    if (options.waitForProbes ?? true) await daemon.waitForProbes();
    return daemon;
  }

  /** Each runtime handler's state, as Status (verbose) reports it. */
  async handlerProbes(): Promise<Array<{ name: string; problem: string; probe: { source: string; pending: boolean } }>> {
    const status = await this.client.runtime('Status', { verbose: true });
    return JSON.parse(status.info?.runtime_handlers ?? '[]') as Array<{ name: string; problem: string; probe: { source: string; pending: boolean } }>;
  }

  /** Until every handler's probe has ended: what a test sees then does not depend on when it looked. */
  async waitForProbes(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.handlerProbes()).every((h) => !h.probe.pending && h.probe.source !== 'none')) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`the runtime handlers' probes did not end within ${timeoutMs} ms`);
  }

  get pid(): number {
    return this.process.pid!;
  }

  private async waitReady(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exitCode: number | null | undefined;
    void this.exited.then((c) => { exitCode = c; });
    while (Date.now() < deadline) {
      if (exitCode !== undefined) throw new Error(`runcri exited with ${exitCode} before it was ready:\n${this.stderr}`);
      if (existsSync(this.dirs.socket)) {
        try {
          await this.client.runtime('Version', {}, { deadlineMs: 1000 });
          return;
        } catch {
          // not yet
        }
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`runcri was not ready within ${timeoutMs} ms:\n${this.stderr}`);
  }

  /** SIGTERM and wait: the graceful path. */
  async stop(): Promise<number | null> {
    this.client.close();
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGTERM');
    return this.exited;
  }

  /** SIGKILL: the crash path. */
  async kill(): Promise<void> {
    this.client.close();
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
    await this.exited;
  }

  waitExit(): Promise<number | null> {
    return this.exited;
  }

  /** How the daemon ended: its exit code, or the signal that killed it (undefined while it runs). */
  get ending(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    if (this.process.exitCode === null && this.process.signalCode === null) return undefined;
    return { code: this.process.exitCode, signal: this.process.signalCode };
  }

  /** Stops the daemon and removes its directories; mounts left under them are a test failure elsewhere, but never left on the machine. */
  async destroy(): Promise<void> {
    await this.stop();
    removeTestDirs(this.dirs);
  }
}

export function removeTestDirs(dirs: TestDirs): void {
  unmountBelow(dirs.base);
  // rm walks by descriptors: trees deeper than PATH_MAX (a test's own making) go too.
  spawnSync('rm', ['-rf', '--one-file-system', '--', dirs.base]);
}

export function readDaemonLog(d: TestDaemon): string[] {
  return d.stderr.split('\n').filter(Boolean);
}

export { readFileSync };
