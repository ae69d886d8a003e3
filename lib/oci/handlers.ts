import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config, RuntimeHandlerConfig } from '../config/index.js';
import { FailedPreconditionError, InvalidArgumentError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { Paths } from '../paths/index.js';
import { probeRecursiveReadOnly, probeRun, probeUserNamespaces } from './probe.js';
import { OciRuntime } from './runtime.js';
import { isExecutable } from '../util/files.js';

export interface HandlerFeatures {
  /** The binary knows the `rro` mount option. */
  recursiveReadOnlyMounts: boolean;
  /** The binary and this kernel ran a user-namespaced container with an ID-mapped root filesystem. */
  userNamespaces: boolean;
}

export interface HandlerInfo {
  /** The configured name ('' is never stored: the default handler has its own name). */
  name: string;
  config: RuntimeHandlerConfig;
  /** Empty when the handler runs containers here; otherwise why it cannot. */
  problem: string;
  /** Why user namespaces are not offered (empty when they are). */
  usernsProblem: string;
  features: HandlerFeatures;
}

export interface RuntimeHandlersOptions {
  config: Config;
  paths: Paths;
  log: Logger;
}

const STOCK_CRUN = '/usr/bin/crun';

/** An executable file of this installation (`native/idmap-mount`, a bundled wrapper), found from this module in dist/ or a build dir. */
function installedFile(...parts: string[]): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) {
      const path = join(dir, ...parts);
      return isExecutable(path) ? path : undefined;
    }
    dir = dirname(dir);
  }
  return undefined;
}


/**
 * The configured runtime handlers (RuntimeClass), what each can do on this node, found by
 * running it once at start rather than assumed, and the OciRuntime that drives each.
 */
export class RuntimeHandlers {
  private readonly infos = new Map<string, HandlerInfo>();
  private readonly runtimes = new Map<string, OciRuntime>();
  readonly idmapHelper: string | undefined;

  constructor(private readonly opts: RuntimeHandlersOptions) {
    const { config } = opts;
    this.idmapHelper = config.runtime.idmap_mount_helper
      ? (isExecutable(config.runtime.idmap_mount_helper) ? config.runtime.idmap_mount_helper : undefined)
      : installedFile('native', 'idmap-mount');
    for (const [name, cfg] of Object.entries(config.runtimes)) {
      this.infos.set(name, {
        name, config: cfg, problem: 'not probed yet', usernsProblem: 'not probed yet',
        features: { recursiveReadOnlyMounts: false, userNamespaces: false },
      });
    }
  }

  /** Tries every handler (in parallel); called once before the daemon is ready. */
  async probe(): Promise<void> {
    const scratch = this.opts.paths.probeDir;
    mkdirSync(scratch, { recursive: true, mode: 0o711 });
    await Promise.all([...this.infos.values()].map(async (info) => {
      await this.probeOne(info, scratch);
      const wrapper = installedFile('bundles', 'runtimes', 'crun-hybrid-cgroups');
      if (info.config.path === STOCK_CRUN && /hybrid mode not supported/.test(info.problem) && wrapper) {
        // The stock crun cannot run on this cgroup layout, its wrapper can: use the wrapper,
        // everywhere the handler's path is read (conmon, exec, streaming), if it really runs.
        const stock = { problem: info.problem, usernsProblem: info.usernsProblem, features: info.features };
        info.config.path = wrapper;
        await this.probeOne(info, scratch);
        if (info.problem) {
          const wrapperProblem = info.problem;
          info.config.path = STOCK_CRUN;
          Object.assign(info, stock);
          info.problem += ` (its wrapper ${wrapper} failed too: ${wrapperProblem})`;
        } else {
          this.opts.log.warn({ handler: info.name, path: wrapper, reason: stock.problem }, 'crun runs through its wrapper on this node, in a mount namespace without the cgroup2 hierarchy: Bidirectional mount propagation does not reach the node');
        }
      }
      const log = this.opts.log.child({ handler: info.name });
      if (info.problem) log.warn({ problem: info.problem }, 'runtime handler cannot run containers on this node; pods asking for it are refused');
      else log.info({ path: info.config.path, features: info.features, ...(info.usernsProblem ? { userns: info.usernsProblem } : {}) }, 'runtime handler ready');
    }));
  }

  private async probeOne(info: HandlerInfo, scratch: string): Promise<void> {
    const { path, recursive_read_only_mounts: rro } = info.config;
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

  list(): HandlerInfo[] {
    return [...this.infos.values()];
  }

  defaultName(): string {
    return this.opts.config.runtime.default_handler;
  }

  /** A pod's handler ('' is the default): unknown → INVALID_ARGUMENT, unusable here → FAILED_PRECONDITION. */
  require(requested: string): HandlerInfo {
    const info = this.infos.get(requested || this.defaultName());
    if (!info) throw new InvalidArgumentError(`runtime handler "${requested}" is not configured (have: ${[...this.infos.keys()].join(', ')})`);
    if (info.problem) throw new FailedPreconditionError(`runtime handler "${info.name}" cannot run containers on this node: ${info.problem}`);
    return info;
  }

  /** The driver of a handler's containers; records made by a handler since removed from the config still resolve by name. */
  runtime(requested: string): OciRuntime {
    const name = requested || this.defaultName();
    let rt = this.runtimes.get(name);
    if (rt) return rt;
    const cfg = this.opts.config.runtimes[name];
    if (!cfg) throw new InvalidArgumentError(`runtime handler "${name}" is not configured (have: ${[...this.infos.keys()].join(', ')})`);
    const { paths, config } = this.opts;
    rt = new OciRuntime({
      runtimePath: cfg.path, runtimeRoot: cfg.root, conmonPath: cfg.monitor_path || config.runtime.conmon_path,
      exitDir: paths.exitDir, socketDir: paths.socketDir, execDir: paths.execDir,
      log: this.opts.log.child({ module: 'oci', handler: name }),
    });
    this.runtimes.set(name, rt);
    return rt;
  }
}
