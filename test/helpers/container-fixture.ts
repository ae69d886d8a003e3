/**
 * Shared setup for container integration tests: a registry with busybox-based images, a
 * daemon with a bridge network of the test's own, and pods under a cgroup of the test's own.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { TestDaemon, makeTestDirs, removeTestDirs, type TestDirs } from './daemon.js';
import { TestRegistry } from './registry.js';
import { buildImage, makeLayer, pushImage, type EntrySpec, type RuntimeConfig } from './oci-image.js';
import { removeTestNetwork, writeTestNetwork, type TestNetwork } from './cni.js';
import type { ContainerConfig } from '../../lib/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';

const APPLETS = ['sh', 'ls', 'cat', 'echo', 'sleep', 'id', 'true', 'false', 'env', 'ps', 'pwd', 'printf', 'head', 'tr', 'dd', 'grep', 'unshare', 'touch', 'nc', 'hostname', 'kill', 'mkdir', 'wc', 'test', 'mount', 'seq'];

export const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:100::/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n';
export const GROUP = 'root:x:0:\nusers:x:100:alice\nalice:x:1000:\nwheel:x:10:alice,bob\nnogroup:x:65534:\n';

export function fullBusybox(): EntrySpec[] {
  return [
    { path: 'bin/', type: 'directory' },
    { path: 'bin/busybox', content: readFileSync('/bin/busybox'), mode: 0o755 },
    ...APPLETS.map((a): EntrySpec => ({ path: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { path: 'etc/', type: 'directory' },
    { path: 'etc/passwd', content: PASSWD },
    { path: 'etc/group', content: GROUP },
    { path: 'tmp/', type: 'directory', mode: 0o1777 },
    { path: 'srv/', type: 'directory' },
    { path: 'srv/marker', content: 'from-image\n' },
  ];
}

export class ContainerFixture {
  private podSeq = 0;
  readonly cgroupRoot = `/rct-ctr-${process.pid}`;

  private constructor(readonly registry: TestRegistry, readonly dirs: TestDirs, readonly net: TestNetwork, public daemon: TestDaemon) {}

  /**
   * `images` are pushed to the registry and pulled; `opts.unpulled` only pushed. `opts.toml`
   * is daemon configuration, or a function of the registry's host that makes it.
   */
  static async start(images: Record<string, RuntimeConfig>, opts: { unpulled?: Record<string, RuntimeConfig>; toml?: string | ((registryHost: string) => string) } = {}): Promise<ContainerFixture> {
    const registry = await TestRegistry.start();
    try {
      const base = await makeLayer(fullBusybox());
      for (const [name, config] of Object.entries({ ...images, ...opts.unpulled })) {
        await pushImage(registry.host, `test/${name}`, 'v1', buildImage([base], { config }));
      }
    } catch (err) {
      await registry.stop();
      throw err;
    }
    const dirs = makeTestDirs();
    const net = writeTestNetwork({ confDir: dirs.cniConf, stateDir: dirs.base });
    let daemon: TestDaemon;
    try {
      const toml = typeof opts.toml === 'function' ? opts.toml(registry.host) : opts.toml;
      daemon = await TestDaemon.start({ dirs, ...(toml !== undefined ? { toml } : {}) });
    } catch (err) {
      removeTestNetwork(net);
      removeTestDirs(dirs);
      await registry.stop();
      throw err;
    }
    const fixture = new ContainerFixture(registry, dirs, net, daemon);
    try {
      for (const name of Object.keys(images)) await daemon.client.image('PullImage', { image: { image: fixture.image(name) } });
    } catch (err) {
      await fixture.destroy();
      throw err;
    }
    return fixture;
  }

  image(name: string): string {
    return `${this.registry.host}/test/${name}:v1`;
  }

  get client() {
    return this.daemon.client;
  }

  podConfig(extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
    const n = `pod${++this.podSeq}`;
    return {
      metadata: { name: n, uid: `uid-${n}-${process.pid}`, namespace: 'ctr', attempt: 0 },
      hostname: n,
      log_directory: `${this.dirs.base}/logs/${n}`,
      ...extra,
      linux: { cgroup_parent: `${this.cgroupRoot}/${n}`, ...(extra.linux ?? {}) },
    };
  }

  async runPod(extra: Partial<PodSandboxConfig> = {}): Promise<{ id: string; config: PodSandboxConfig }> {
    const config = this.podConfig(extra);
    const res = await this.client.runtime('RunPodSandbox', { config });
    return { id: res.pod_sandbox_id!, config };
  }

  async create(pod: { id: string; config: PodSandboxConfig }, image: string, config: Partial<ContainerConfig> = {}): Promise<string> {
    const name = config.metadata?.name ?? `c${Math.random().toString(16).slice(2, 8)}`;
    const res = await this.client.runtime('CreateContainer', {
      pod_sandbox_id: pod.id,
      sandbox_config: pod.config,
      config: { metadata: { name }, image: { image: this.image(image) }, log_path: `${name}.log`, ...config },
    });
    return res.container_id!;
  }

  async run(pod: { id: string; config: PodSandboxConfig }, image: string, config: Partial<ContainerConfig> = {}): Promise<string> {
    const id = await this.create(pod, image, config);
    await this.client.runtime('StartContainer', { container_id: id });
    return id;
  }

  async status(id: string, verbose = false) {
    return (await this.client.runtime('ContainerStatus', { container_id: id, verbose })).status!;
  }

  async waitExited(id: string, ms = 15_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await this.status(id);
      if (s.state === 'CONTAINER_EXITED') return s;
      if (Date.now() > deadline) assert.fail(`container ${id} still ${s.state} after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  logOf(pod: { config: PodSandboxConfig }, name: string): string {
    try {
      return readFileSync(`${pod.config.log_directory}/${name}.log`, 'utf8');
    } catch {
      return '';
    }
  }

  /** The messages of a CRI log's full lines, partial ones joined. */
  logText(pod: { config: PodSandboxConfig }, name: string, stream?: 'stdout' | 'stderr'): string {
    let out = '';
    for (const line of this.logOf(pod, name).split('\n')) {
      const m = /^\S+ (stdout|stderr) ([PF]) (.*)$/.exec(line);
      if (!m || (stream && m[1] !== stream)) continue;
      out += m[2] === 'P' ? m[3] : `${m[3]}\n`;
    }
    return out;
  }

  async exec(id: string, cmd: string[], timeout = 10) {
    const r = await this.client.runtime('ExecSync', { container_id: id, cmd, timeout });
    return { exitCode: r.exit_code ?? 0, stdout: Buffer.from(r.stdout ?? []).toString(), stderr: Buffer.from(r.stderr ?? []).toString() };
  }

  async removePod(id: string): Promise<void> {
    await this.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
    await this.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
  }

  async destroy(): Promise<void> {
    try {
      const pods = (await this.client.runtime('ListPodSandbox', {})).items ?? [];
      for (const p of pods) await this.removePod(p.id!).catch(() => undefined);
    } catch {
      // the daemon may be gone already
    }
    await this.daemon.destroy();
    removeTestNetwork(this.net);
    await this.registry.stop();
    for (const h of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'hugetlb', 'net_cls', 'perf_event', 'unified']) {
      spawnSync('find', [`/sys/fs/cgroup/${h}${this.cgroupRoot}`, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'], { stdio: 'ignore' });
    }
  }
}
