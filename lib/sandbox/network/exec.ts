import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, RuntimeError, UnavailableError, messageOf } from '../../errors/index.js';
import { CommandFailedError, runCommand } from '../../process/index.js';
import type { PluginConf } from './conf.js';

export type CniCommand = 'ADD' | 'CHECK' | 'DEL';

/** What every plugin of one invocation gets besides its config. */
export interface Invocation {
  containerId: string;
  /** Empty for a DEL whose namespace is already gone: the spec lets plugins release what they hold anyway. */
  netns: string;
  ifName: string;
  /** `K=V;K=V` CNI_ARGS. */
  args: string;
  /** Values for `runtimeConfig`, handed to the plugins that declare the capability. */
  capabilityArgs: Record<string, unknown>;
}

/**
 * CNI_ARGS from pairs. The format has no escaping (plugins split on ";", then on "="), so a
 * value holding either would add or break pairs: such a pair is left out rather than passed
 * on. RunPodSandbox refuses such names up front; this keeps a pod recorded before that from
 * ever reaching a plugin with a pair it did not mean, and its DEL still runs.
 */
export function cniArgs(pairs: readonly (readonly [string, string])[]): string {
  return pairs.filter(([, value]) => !/[;=\0]/.test(value)).map(([key, value]) => `${key}=${value}`).join(';');
}

/** A plugin reported an error (its JSON error on stdout) or could not run. */
export class PluginError extends RuntimeError {
  constructor(readonly plugin: string, readonly command: CniCommand, message: string, readonly code?: number) {
    super('internal', `CNI plugin ${plugin} ${command}: ${message}`);
  }
}

export function findPlugin(binDirs: readonly string[], type: string): string | undefined {
  for (const dir of binDirs) {
    const path = join(dir, type);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next directory
    }
  }
  return undefined;
}

/** The stdin config for one plugin: its own entry plus name, version, prevResult and runtimeConfig. */
export function pluginStdin(network: { name: string; cniVersion: string }, plugin: PluginConf, prevResult: unknown, capabilityArgs: Record<string, unknown>): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: network.name, cniVersion: network.cniVersion };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, enabled] of Object.entries(plugin.capabilities ?? {})) {
    if (enabled && capabilityArgs[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  return conf;
}

export interface ExecOptions {
  binDirs: readonly string[];
  timeoutMs: number;
}

/** Runs one plugin and returns its parsed stdout (the result; nothing for DEL). */
export async function execPlugin(command: CniCommand, stdin: Record<string, unknown>, inv: Invocation, opts: ExecOptions): Promise<unknown> {
  const type = String(stdin.type);
  const path = findPlugin(opts.binDirs, type);
  if (!path) throw new UnavailableError(`CNI plugin "${type}" not found in ${opts.binDirs.join(', ')}`);
  let stdout: string;
  try {
    ({ stdout } = await runCommand(path, [], {
      input: JSON.stringify(stdin),
      timeoutMs: opts.timeoutMs,
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: inv.containerId,
        CNI_NETNS: inv.netns,
        CNI_IFNAME: inv.ifName,
        CNI_ARGS: inv.args,
        CNI_PATH: opts.binDirs.join(':'),
      },
    }));
  } catch (err) {
    if (err instanceof CommandFailedError) {
      const reported = parseErrorJson(err.stdout);
      if (reported) throw new PluginError(type, command, reported.message, reported.code);
    }
    if (err instanceof RuntimeError && err.kind === 'deadline_exceeded') throw err;
    throw new PluginError(type, command, messageOf(err));
  }
  if (command !== 'ADD' || !stdout.trim()) return undefined;
  try {
    return JSON.parse(stdout);
  } catch {
    throw new PluginError(type, command, `result is not JSON: ${stdout.slice(0, 200)}`);
  }
}

function parseErrorJson(stdout: string): { message: string; code?: number } | undefined {
  try {
    const doc = JSON.parse(stdout) as { code?: number; msg?: string; details?: string };
    if (typeof doc.msg !== 'string') return undefined;
    return { message: doc.details ? `${doc.msg}: ${doc.details}` : doc.msg, code: doc.code };
  } catch {
    return undefined;
  }
}

/** The pod IPs of an ADD result, IPv4 first (the primary, as kubelet reads it), then IPv6. */
export function podIps(result: unknown): string[] {
  if (typeof result !== 'object' || result === null) return [];
  const r = result as { ips?: { address?: string; interface?: number }[]; interfaces?: { sandbox?: string }[]; ip4?: { ip?: string }; ip6?: { ip?: string } };
  const addresses: string[] = [];
  for (const ip of r.ips ?? []) {
    if (typeof ip.address !== 'string') continue;
    // Only addresses on interfaces inside the pod: a host-side interface's address is not the pod's.
    if (ip.interface !== undefined && r.interfaces?.[ip.interface] && !r.interfaces[ip.interface]!.sandbox) continue;
    addresses.push(ip.address.split('/')[0]!);
  }
  // spec 0.2.0 results
  if (r.ip4?.ip) addresses.push(r.ip4.ip.split('/')[0]!);
  if (r.ip6?.ip) addresses.push(r.ip6.ip.split('/')[0]!);
  const unique = [...new Set(addresses)].filter((a) => !a.startsWith('127.') && a !== '::1');
  return [...unique.filter((a) => !a.includes(':')), ...unique.filter((a) => a.includes(':'))];
}

/**
 * A Kubernetes quantity ("10M", "1Gi", "500k") as an integer, for the bandwidth annotations
 * (bits per second).
 */
export function parseQuantity(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a quantity like 10M or 1Gi`);
  const factors: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
  return Math.round(Number(m[1]) * factors[m[2] ?? '']!);
}
