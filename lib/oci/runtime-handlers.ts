import { mkdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { CgroupManager, hostCgroupLayout } from '../cgroups/index.js';
import type { Config, RuntimeHandlerConfig } from '../config/index.js';
import { FailedPreconditionError, InvalidArgumentError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { Paths } from '../paths/index.js';
import { installedFile, isExecutable } from '../util/files.js';
import { Semaphore } from '../util/semaphore.js';
import { ConmonFiles } from './conmon-files.js';
import { ConmonRuntime } from './conmon-runtime.js';
import { ExitWatcher } from './exit-watcher.js';
import { probeRecursiveReadOnly, probeRun, probeUserNamespaces, removeProbeCgroups, removeProbeLeftovers } from './probe.js';
import { binaryVersion, probeInputs, ProbeCache, statIdentity, type ProbeResult } from './probe-cache.js';
import type { OciRuntime } from './runtime.js';

export interface HandlerFeatures {
  /** The binary knows the `rro` mount option. */
  recursiveReadOnlyMounts: boolean;
  /** The binary and this kernel ran a user-namespaced container with an ID-mapped root filesystem. */
  userNamespaces: boolean;
}

/** What a container's spec depends on about its handler. */
export interface HandlerPolicy {
  recursiveReadOnlyMounts: boolean;
  /** Runtime-interpreted annotations (or prefixes) this handler may receive from a request. */
  allowedAnnotations: string[];
  /** Privileged containers get no host devices (containerd's setting of that name). */
  privilegedWithoutHostDevices: boolean;
}

export interface HandlerInfo {
  /** The configured name ('' is never stored: the default handler has its own name). */
  name: string;
  /** As configured; never changed. */
  config: RuntimeHandlerConfig;
  /** The binary that runs this handler's containers: the configured one, or a wrapper the probe found it needs. */
  path: string;
  /** Empty when the handler runs containers here; otherwise why it cannot. */
  problem: string;
  /** Why user namespaces are not offered (empty when they are). */
  usernsProblem: string;
  features: HandlerFeatures;
  probe: ProbeState;
}

/** Where a handler's current answer comes from, and whether a probe is still to end. */
export interface ProbeState {
  /** `none`: never probed with this binary, nothing is known yet; `cache`: what the same binary showed at an earlier start. */
  source: 'none' | 'cache' | 'probe';
  /** A probe runs now, or is due: one starts shortly after the daemon answers, cached answer or not. */
  pending: boolean;
  /** When the answer was found (ISO time); empty while there is none. */
  at: string;
  /** The binary's `--version` line as recorded with the answer. */
  version: string;
}

export interface RuntimeHandlersOptions {
  config: Config;
  paths: Paths;
  log: Logger;
}

const STOCK_CRUN = '/usr/bin/crun';
/** How long a stopping daemon waits for a probe under way (a probe's container runs a program's --version). */
const PROBE_SETTLE_MS = 5000;



/**
 * The configured runtime handlers (RuntimeClass), what each can do on this node, found by
 * running it once at start rather than assumed, and the OciRuntime that drives each. They
 * share conmon's exit directory, which this set watches, and one bound on execs.
 */
export class RuntimeHandlers {
  private readonly infos = new Map<string, HandlerInfo>();
  private readonly runtimes = new Map<string, OciRuntime>();
  private readonly files: ConmonFiles;
  private readonly watcher: ExitWatcher;
  /**
   * runc execs at once, of every handler: each costs a fork and some 20 ms of CPU, and a
   * burst of probes left unbounded starves the daemon's event loop and every other RPC.
   */
  private readonly execSlots = new Semaphore(Math.max(4, availableParallelism() * 4));
  private readonly ptyHelper: string | undefined;
  readonly idmapHelper: string | undefined;
  private readonly cache: ProbeCache;
  /** Per handler, settled when its first probe has ended (never rejects). */
  private readonly firstAnswer = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  /** The last probe of every handler (settled once it has ended). */
  private probing: Promise<void> | undefined;

  constructor(private readonly opts: RuntimeHandlersOptions) {
    const { config, paths } = opts;
    this.files = new ConmonFiles(paths);
    this.watcher = new ExitWatcher(paths.exitDir);
    this.idmapHelper = config.runtime.idmap_mount_helper
      ? (isExecutable(config.runtime.idmap_mount_helper) ? config.runtime.idmap_mount_helper : undefined)
      : installedFile('native', 'idmap-mount');
    this.ptyHelper = installedFile('native', 'pty-exec');
    this.cache = new ProbeCache(paths.probeCacheFile);
    for (const [name, cfg] of Object.entries(config.runtimes)) {
      this.infos.set(name, {
        name, config: cfg, path: cfg.path, problem: 'not probed yet', usernsProblem: 'not probed yet',
        features: { recursiveReadOnlyMounts: false, userNamespaces: false },
        probe: { source: 'none', pending: true, at: '', version: '' },
      });
      let resolve = () => {};
      const promise = new Promise<void>((r) => { resolve = r; });
      this.firstAnswer.set(name, { promise, resolve });
    }
  }

  /** What a handler's probe depends on besides its binary. */
  private inputsOf(info: HandlerInfo): string {
    const helper = this.idmapHelper ? statIdentity(this.idmapHelper) : undefined;
    return probeInputs({ handler: info.name, config: info.config, idmapHelper: helper ?? null, stateDir: this.opts.config.state_dir });
  }

  /**
   * Makes the directories conmon writes to and clears what a killed daemon left: exec scratch
   * directories (their processes went with it), a probe's scratch directory with the mounts
   * it had made (a pinned user namespace, an ID-mapped view) and its container's cgroup, and
   * socket links of containers long deleted.
   */
  async prepare(): Promise<void> {
    const { paths } = this.opts;
    await removeProbeLeftovers(paths.probeDir);
    const cgroups = removeProbeCgroups(new CgroupManager(hostCgroupLayout()).roots());
    if (cgroups.length > 0) this.opts.log.info({ cgroups }, 'removed the cgroups of runtime probes a killed daemon left');
    rmSync(paths.execDir, { recursive: true, force: true });
    for (const dir of [paths.exitDir, paths.socketDir, paths.execDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const removed = this.files.removeDanglingSocketLinks();
    if (removed > 0) this.opts.log.info({ removed }, 'removed attach socket links of deleted containers');
  }

  /** Calls `listener` with a container's ID when its monitor records its exit (promptly, not reliably: readers look too). */
  watchExits(listener: (containerId: string) => void): void {
    this.watcher.start(listener);
  }

  close(): void {
    this.watcher.stop();
  }

  /**
   * Waits, for at most `timeoutMs`, for a probe under way to end: it undoes its own mounts, and
   * a daemon that stopped in the middle of one would leave them for the next start to clear.
   */
  async settle(timeoutMs = PROBE_SETTLE_MS): Promise<void> {
    if (!this.probing) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
    await Promise.race([this.probing.catch(() => undefined), waited]);
    clearTimeout(timer);
  }

  /**
   * Gives each handler whose binary is the one a cached probe result was found with that
   * result, at once; the others have no answer until `probe` has run for them (readiness
   * says so, and pods for them wait).
   */
  useCached(): void {
    for (const info of this.infos.values()) {
      const cached = this.cache.lookup(info.name, this.inputsOf(info), info.config.path);
      if (cached) this.apply(info, cached.result, { source: 'cache', pending: true, at: cached.probedAt, version: cached.binary.version });
    }
  }

  /** Probes every handler (in parallel), cached or not, and caches what it finds; resolves when all have ended. */
  probe(): Promise<void> {
    const scratch = this.opts.paths.probeDir;
    mkdirSync(scratch, { recursive: true, mode: 0o711 });
    const probing = Promise.all([...this.infos.values()].map(async (info) => {
      info.probe = { ...info.probe, pending: true };
      await this.probeHandler(info, scratch, this.inputsOf(info));
      this.firstAnswer.get(info.name)?.resolve();
    })).then(() => undefined);
    this.probing = probing;
    return probing;
  }

  /** Waits until the handler has an answer (at once when it has one, cached or probed). */
  async known(requested: string): Promise<void> {
    const info = this.info(requested);
    if (info.probe.source === 'none') await this.firstAnswer.get(info.name)?.promise;
  }

  private apply(info: HandlerInfo, result: ProbeResult, probe: ProbeState): void {
    if (info.path !== result.path) this.runtimes.delete(info.name);
    info.path = result.path;
    info.problem = result.problem;
    info.usernsProblem = result.usernsProblem;
    info.features = { ...result.features };
    info.probe = probe;
  }

  /** One handler's probe, on a scratch copy so callers never see a half-probed handler; the answer is cached. */
  private async probeHandler(info: HandlerInfo, scratch: string, inputs: string): Promise<void> {
    const trial: HandlerInfo = { ...info, path: info.config.path, features: { ...info.features } };
    const identity = statIdentity(trial.path);
    const version = identity ? await binaryVersion(trial.path) : '';
    try {
      await this.probeWithWrapper(trial, scratch);
    } catch (err) {
      trial.problem = `probing failed: ${messageOf(err)}`;
      trial.usernsProblem = trial.problem;
    }
    const result: ProbeResult = { path: trial.path, problem: trial.problem, usernsProblem: trial.usernsProblem, features: trial.features };
    // Messages name scratch directories of their own run: only what decides a pod is compared.
    const changed = info.probe.source === 'cache' && (result.path !== info.path || !result.problem !== !info.problem || !result.usernsProblem !== !info.usernsProblem
      || JSON.stringify(result.features) !== JSON.stringify(info.features));
    this.apply(info, result, { source: 'probe', pending: false, at: new Date().toISOString(), version });
    const log = this.opts.log.child({ handler: info.name });
    if (changed) log.warn({ result }, 'runtime handler probe found other than the cached result; it applies now');
    if (info.problem) log.warn({ problem: info.problem }, 'runtime handler cannot run containers on this node; pods asking for it are refused');
    else log.info({ path: info.path, features: info.features, ...(info.usernsProblem ? { userns: info.usernsProblem } : {}) }, 'runtime handler ready');
    if (identity) {
      try {
        this.cache.store(info.name, inputs, { ...identity, version }, result);
      } catch (err) {
        log.warn({ err: messageOf(err) }, 'could not save the probe result; the next start probes before it can use this handler');
      }
    }
  }

  private async probeWithWrapper(info: HandlerInfo, scratch: string): Promise<void> {
    await this.probeOne(info, scratch);
    const wrapper = installedFile('bundles', 'runtimes', 'crun-hybrid-cgroups');
    if (info.path === STOCK_CRUN && /hybrid mode not supported/.test(info.problem) && wrapper) {
      // The stock crun cannot run on this cgroup layout, its wrapper can: the handler's
      // runtime (conmon, exec) uses the wrapper, if it really runs.
      const stock = { problem: info.problem, usernsProblem: info.usernsProblem, features: info.features };
      info.path = wrapper;
      await this.probeOne(info, scratch);
      if (info.problem) {
        const wrapperProblem = info.problem;
        info.path = STOCK_CRUN;
        Object.assign(info, stock);
        info.problem += ` (its wrapper ${wrapper} failed too: ${wrapperProblem})`;
      } else {
        this.opts.log.warn({ handler: info.name, path: wrapper, reason: stock.problem }, 'crun runs through its wrapper on this node, in a mount namespace without the cgroup2 hierarchy: Bidirectional mount propagation does not reach the node');
      }
    }
  }

  private async probeOne(info: HandlerInfo, scratch: string): Promise<void> {
    const { path } = info;
    const rro = info.config.recursive_read_only_mounts;
    if (!isExecutable(path)) {
      info.problem = `${path} is not an executable file`;
      info.usernsProblem = info.problem;
      return;
    }
    const target = { name: info.name, path, scratch };
    const failed = (err: unknown) => ({ problem: `probing failed: ${messageOf(err)}` });
    const [run, userns, rroFound] = await Promise.all([
      probeRun(target).catch(failed),
      probeUserNamespaces(target, this.idmapHelper).catch(failed),
      rro === 'auto' ? probeRecursiveReadOnly(path) : Promise.resolve(rro === 'true'),
    ]);
    info.problem = run.problem;
    info.usernsProblem = run.problem || userns.problem;
    if (/permission denied/i.test(userns.problem)) {
      info.usernsProblem += ` (a pod's root is an unprivileged ID on the node: every directory above ${this.opts.config.state_dir} must be searchable by others)`;
    }
    info.features = { recursiveReadOnlyMounts: !run.problem && rroFound, userNamespaces: !info.usernsProblem };
  }

  /** RuntimeReady: the default handler's binary and its monitor can be run, and what it can do is known. */
  readiness(): { ready: boolean; reason: string; message: string } {
    const info = this.info('');
    const monitor = info.config.monitor_path || this.opts.config.runtime.conmon_path;
    if (!isExecutable(info.path)) return { ready: false, reason: 'RuntimeBinaryMissing', message: `${info.path} is not an executable` };
    if (!isExecutable(monitor)) return { ready: false, reason: 'ConmonMissing', message: `${monitor} is not an executable` };
    if (info.probe.source === 'none') return { ready: false, reason: 'RuntimeHandlerProbing', message: `the default runtime handler "${info.name}" (${info.config.path}) is being probed` };
    return { ready: true, reason: '', message: '' };
  }

  list(): HandlerInfo[] {
    return [...this.infos.values()];
  }

  defaultName(): string {
    return this.opts.config.runtime.default_handler;
  }

  /** A pod's handler ('' is the default): unknown → INVALID_ARGUMENT, unusable here → FAILED_PRECONDITION. */
  require(requested: string): HandlerInfo {
    const info = this.info(requested);
    if (info.problem) throw new FailedPreconditionError(`runtime handler "${info.name}" cannot run containers on this node: ${info.problem}`);
    return info;
  }

  private info(requested: string): HandlerInfo {
    const info = this.infos.get(requested || this.defaultName());
    if (!info) throw new InvalidArgumentError(`runtime handler "${requested}" is not configured (have: ${[...this.infos.keys()].join(', ')})`);
    return info;
  }

  /** What the specs of a handler's containers depend on. */
  policy(requested: string): HandlerPolicy {
    const info = this.info(requested);
    return {
      recursiveReadOnlyMounts: info.features.recursiveReadOnlyMounts,
      allowedAnnotations: [...info.config.allowed_annotations],
      privilegedWithoutHostDevices: info.config.privileged_without_host_devices,
    };
  }

  /** The driver of a handler's containers. */
  runtime(requested: string): OciRuntime {
    const info = this.info(requested);
    let rt = this.runtimes.get(info.name);
    if (rt) return rt;
    const { paths, config } = this.opts;
    rt = new ConmonRuntime({
      runtimePath: info.path, runtimeRoot: info.config.root, conmonPath: info.config.monitor_path || config.runtime.conmon_path,
      files: this.files, execDir: paths.execDir, execSlots: this.execSlots, ptyHelper: this.ptyHelper, criuPath: config.runtime.criu_path,
      log: this.opts.log.child({ module: 'oci', handler: info.name }),
    });
    this.runtimes.set(info.name, rt);
    return rt;
  }
}
