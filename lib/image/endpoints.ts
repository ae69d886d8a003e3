import type { RegistryEntry } from '../config/index.js';
import { FailedPreconditionError } from '../errors/index.js';
import { DEFAULT_DOMAIN, repositoryName, type ImageReference } from './reference.js';

/** One place an image can be fetched from: a mirror or the upstream registry. */
export interface Endpoint {
  /** host[:port] to connect to. */
  host: string;
  /** Repository path on that host. */
  repo: string;
  /** Schemes to try, in order: plain HTTP only where the config (or a loopback host) allows it. */
  schemes: ('https' | 'http')[];
  /** Marked insecure in the config: HTTPS without certificate verification (then plain HTTP). */
  insecure: boolean;
  mirror: boolean;
}

const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

function isLoopback(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:[0-9]+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(name);
}

function endpoint(location: string, remainder: string, insecure: boolean, mirror: boolean): Endpoint {
  let rest = location;
  let plain = false;
  const scheme = /^(https?):\/\//.exec(rest);
  if (scheme) {
    plain = scheme[1] === 'http';
    rest = rest.slice(scheme[0].length);
  }
  rest = rest.replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  const host = slash < 0 ? rest : rest.slice(0, slash);
  const repoPrefix = slash < 0 ? '' : rest.slice(slash + 1);
  const repo = [repoPrefix, remainder].filter(Boolean).join('/');
  const apiHost = host === DEFAULT_DOMAIN ? DOCKER_HUB_API_HOST : host;
  const schemes: Endpoint['schemes'] = plain ? ['http'] : insecure || isLoopback(host) ? ['https', 'http'] : ['https'];
  return { host: apiHost, repo, schemes, insecure, mirror };
}

function matches(name: string, prefix: string): boolean {
  if (prefix.startsWith('*.')) {
    const host = name.split('/')[0]!;
    return host.endsWith(prefix.slice(1));
  }
  return name === prefix || name.startsWith(`${prefix}/`);
}

/**
 * Where to fetch `ref` from, in order: the mirrors of the registry entry with the longest
 * matching prefix, then its location (or the reference's own registry). A blocked entry refuses.
 */
export function endpointsFor(ref: ImageReference, registries: readonly RegistryEntry[]): Endpoint[] {
  const name = repositoryName(ref);
  let entry: RegistryEntry | undefined;
  for (const candidate of registries) {
    if (matches(name, candidate.prefix) && (!entry || candidate.prefix.length > entry.prefix.length)) entry = candidate;
  }
  if (!entry) {
    return [endpoint(ref.domain, ref.path, false, false)];
  }
  if (entry.blocked) throw new FailedPreconditionError(`registry "${entry.prefix}" is blocked by the configuration`);
  const remainder = entry.prefix.startsWith('*.') ? name.slice(name.indexOf('/') + 1) : name.slice(entry.prefix.length).replace(/^\//, '');
  const upstream = entry.prefix.startsWith('*.') ? endpoint(ref.domain, ref.path, entry.insecure, false) : endpoint(entry.location, remainder, entry.insecure, false);
  const mirrors = entry.mirrors.map((m) => endpoint(m.location, entry.prefix.startsWith('*.') ? name : remainder, m.insecure, true));
  return [...mirrors, upstream];
}
