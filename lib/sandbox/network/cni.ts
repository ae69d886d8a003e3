import { watch, type FSWatcher } from 'node:fs';
import { UnavailableError, messageOf } from '../../errors/index.js';
import type { Logger } from '../../log/index.js';
import { ResultCache } from './cache.js';
import { discoverNetwork, parseNetworkConf, type Discovery, type NetworkConfList } from './conf.js';
import { cniArgs, execPlugin, findPlugin, parseQuantity, pluginStdin, podIps, type CniCommand, type Invocation } from './exec.js';

export interface PodNetworkRequest {
  podId: string;
  name: string;
  namespace: string;
  uid: string;
  /** The pinned network namespace file. */
  netns: string;
  portMappings: { hostPort: number; containerPort: number; protocol: string; hostIP: string }[];
  annotations: Record<string, string>;
}

export interface Attachment {
  networkName: string;
  ips: string[];
  result: unknown;
}

export interface CniOptions {
  confDir: string;
  binDirs: string[];
  cacheDir: string;
  log: Logger;
  pluginTimeoutMs?: number;
  /** Told the duration and outcome of every ADD, CHECK and DEL, for the runtime's metrics. */
  onOperation?: (operation: 'ADD' | 'CHECK' | 'DEL', seconds: number, failed: boolean) => void;
}

const IF_NAME = 'eth0';
/**
 * portmap (before 1.3) checks its ip6tables chain even for a pod with no IPv6 address, where
 * ADD never made one (containernetworking/plugins#819): every IPv4 pod with a host port would
 * fail CHECK, and be reported NOTREADY after each restart. Its IPv4 rules are checked first,
 * so this one failure, for such a pod, says nothing about them.
 */
const PORTMAP_FALSE_IPV6_FAILURE = /could not check ipv6 dnat/;
/** How long a discovery is trusted without a watch event; a missed event costs at most this. */
const RESCAN_MS = 2000;

/** Versions whose results carry `ips` and whose DEL takes a prevResult. */
function hasPrevResultOnDel(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return (major ?? 0) >= 1 || (minor ?? 0) >= 4;
}

/**
 * The pod network through CNI: which config is in force (the conf dir is watched), plugin
 * chains run for ADD/CHECK/DEL, and results cached on disk so DEL works after a restart.
 */
export class CniNetwork {
  private discovery: Discovery = {};
  private scannedAt = 0;
  private watcher: FSWatcher | undefined;
  private readonly cache: ResultCache;
  private readonly timeoutMs: number;

  constructor(private readonly opts: CniOptions) {
    this.cache = new ResultCache(opts.cacheDir);
    this.timeoutMs = opts.pluginTimeoutMs ?? 60_000;
    try {
      this.watcher = watch(opts.confDir, () => {
        this.scannedAt = 0;
      });
      this.watcher.unref();
      this.watcher.on('error', () => {
        this.watcher = undefined;
      });
    } catch {
      // no directory yet: the periodic re-scan notices when it appears
    }
  }

  close(): void {
    this.watcher?.close();
  }

  /** The configuration new pods get, re-read after a change in the directory. */
  current(): Discovery {
    const now = Date.now();
    if (now - this.scannedAt > (this.watcher ? 60_000 : RESCAN_MS)) {
      const found = discoverNetwork(this.opts.confDir);
      if (found.network) {
        const missing = found.network.plugins.map((p) => p.type).filter((t) => !findPlugin(this.opts.binDirs, t));
        if (missing.length > 0) found.problem = `CNI plugin ${missing.join(', ')} of network "${found.network.name}" not found in ${this.opts.binDirs.join(', ')}`;
      }
      if (found.network?.name !== this.discovery.network?.name || found.problem !== this.discovery.problem) {
        this.opts.log.info({ network: found.network?.name, file: found.network?.file, problem: found.problem }, 'CNI configuration changed');
      }
      this.discovery = found;
      this.scannedAt = now;
    }
    return this.discovery;
  }

  status(): { ready: boolean; reason: string; message: string } {
    const { network, problem } = this.current();
    if (!network || problem) return { ready: false, reason: 'NetworkPluginNotReady', message: `Network plugin returns error: ${problem ?? 'no CNI configuration'}` };
    return { ready: true, reason: '', message: '' };
  }

  private invocation(req: PodNetworkRequest, netns: string): Invocation {
    return {
      containerId: req.podId,
      netns,
      ifName: IF_NAME,
      args: cniArgs([['IgnoreUnknown', '1'], ['K8S_POD_NAMESPACE', req.namespace], ['K8S_POD_NAME', req.name], ['K8S_POD_INFRA_CONTAINER_ID', req.podId], ['K8S_POD_UID', req.uid]]),
      capabilityArgs: capabilityArgs(req),
    };
  }

  private async observed<T>(operation: 'ADD' | 'CHECK' | 'DEL', run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let failed = true;
    try {
      const result = await run();
      failed = false;
      return result;
    } finally {
      this.opts.onOperation?.(operation, (performance.now() - started) / 1000, failed);
    }
  }

  /** CNI ADD through the whole chain; the result is cached before it is returned. */
  attach(req: PodNetworkRequest): Promise<Attachment> {
    return this.observed('ADD', () => this.add(req));
  }

  check(req: PodNetworkRequest): Promise<void> {
    return this.observed('CHECK', () => this.runCheck(req));
  }

  detach(req: PodNetworkRequest, netnsPresent: boolean): Promise<void> {
    return this.observed('DEL', () => this.del(req, netnsPresent));
  }

  private async add(req: PodNetworkRequest): Promise<Attachment> {
    const { network, problem } = this.current();
    if (!network || problem) throw new UnavailableError(`pod network is not ready: ${problem ?? 'no CNI configuration'}`);
    const inv = this.invocation(req, req.netns);
    let prevResult: unknown;
    for (const plugin of network.plugins) {
      prevResult = (await execPlugin('ADD', pluginStdin(network, plugin, prevResult, inv.capabilityArgs), inv, this.execOptions())) ?? prevResult;
    }
    this.cache.put({ kind: 'cni#v1', containerId: req.podId, ifName: IF_NAME, networkName: network.name, config: network.source, cniArgs: inv.args, capabilityArgs: inv.capabilityArgs, result: prevResult });
    return { networkName: network.name, ips: podIps(prevResult), result: prevResult };
  }

  /**
   * CNI CHECK through the chain with the cached ADD result: is the pod's network still what
   * ADD made? Skipped (true) where the spec has no CHECK (before 0.4.0) or the operator
   * disabled it.
   */
  private async runCheck(req: PodNetworkRequest): Promise<void> {
    const cached = this.cache.get(req.podId, IF_NAME);
    if (!cached) throw new UnavailableError(`no cached CNI result for pod ${req.podId}`);
    const network = parseNetworkConf(cached.config, 'cache', false);
    if (network.disableCheck || !hasPrevResultOnDel(network.cniVersion)) return;
    const inv = { ...this.invocation(req, req.netns), args: cached.cniArgs, capabilityArgs: cached.capabilityArgs };
    const ipv4Only = podIps(cached.result).every((ip) => !ip.includes(':'));
    for (const plugin of network.plugins) {
      try {
        await execPlugin('CHECK', pluginStdin(network, plugin, cached.result, inv.capabilityArgs), inv, this.execOptions());
      } catch (err) {
        if (!(plugin.type === 'portmap' && ipv4Only && PORTMAP_FALSE_IPV6_FAILURE.test(messageOf(err)))) throw err;
      }
    }
  }

  /**
   * CNI DEL through the chain in reverse, with the config and result ADD used when they were
   * cached (the current config otherwise). `netns` is empty when the namespace is gone, so
   * IPAM still releases the address.
   */
  private async del(req: PodNetworkRequest, netnsPresent: boolean): Promise<void> {
    const cached = this.cache.get(req.podId, IF_NAME);
    let network: NetworkConfList | undefined;
    let inv = this.invocation(req, netnsPresent ? req.netns : '');
    if (cached) {
      network = parseNetworkConf(cached.config, 'cache', false);
      inv = { ...inv, args: cached.cniArgs, capabilityArgs: cached.capabilityArgs };
    } else {
      network = this.current().network;
      if (!network) {
        // No cached result means ADD never finished; with no config either there is nothing to run DEL with.
        this.opts.log.warn({ pod: req.podId }, 'no CNI configuration and no cached ADD result: skipping CNI DEL');
        return;
      }
    }
    const prevResult = cached && hasPrevResultOnDel(network.cniVersion) ? cached.result : undefined;
    for (const plugin of [...network.plugins].reverse()) {
      await this.run('DEL', network, plugin, prevResult, inv);
    }
    this.cache.delete(req.podId, IF_NAME);
  }

  private async run(command: CniCommand, network: NetworkConfList, plugin: NetworkConfList['plugins'][number], prevResult: unknown, inv: Invocation): Promise<unknown> {
    return execPlugin(command, pluginStdin(network, plugin, prevResult, inv.capabilityArgs), inv, this.execOptions());
  }

  private execOptions() {
    return { binDirs: this.opts.binDirs, timeoutMs: this.timeoutMs };
  }
}

/** The runtimeConfig values a pod offers; each plugin gets those it declares. */
function capabilityArgs(req: PodNetworkRequest): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  const ports = req.portMappings.filter((p) => p.hostPort > 0);
  if (ports.length > 0) args.portMappings = ports;
  const ingress = req.annotations['kubernetes.io/ingress-bandwidth'];
  const egress = req.annotations['kubernetes.io/egress-bandwidth'];
  if (ingress || egress) {
    // Burst is not a Kubernetes setting; the largest value the plugin takes means "no burst limit".
    const bandwidth: Record<string, number> = {};
    if (ingress) Object.assign(bandwidth, { ingressRate: parseQuantity(ingress), ingressBurst: 2 ** 31 - 1 });
    if (egress) Object.assign(bandwidth, { egressRate: parseQuantity(egress), egressBurst: 2 ** 31 - 1 });
    args.bandwidth = bandwidth;
  }
  args['io.kubernetes.cri.pod-annotations'] = req.annotations;
  return args;
}
