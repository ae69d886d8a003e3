import { InvalidArgumentError } from '../errors/index.js';

/**
 * Image references as the distribution ecosystem writes them: `[domain/]path[:tag][@digest]`,
 * with Docker Hub as the default domain and `library/` for its one-component names.
 */
export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const MAX_NAME_LENGTH = 255;

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;

export interface ImageReference {
  domain: string;
  /** Repository path inside the domain, e.g. `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

/** `domain/path`, the repository name. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalized form: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${repositoryName(ref)}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

export function taggedName(ref: ImageReference): string | undefined {
  return ref.tag ? `${repositoryName(ref)}:${ref.tag}` : undefined;
}

export function isValidDigest(digest: string): boolean {
  if (!DIGEST.test(digest)) return false;
  const [algorithm, hex] = digest.split(':') as [string, string];
  return algorithm !== 'sha256' || SHA256_HEX.test(hex);
}

function validDomain(domain: string): boolean {
  const colon = domain.startsWith('[') ? domain.indexOf(']:') + 1 : domain.lastIndexOf(':');
  const host = colon > 0 ? domain.slice(0, colon) : domain;
  const port = colon > 0 ? domain.slice(colon + 1) : undefined;
  if (port !== undefined && !/^[0-9]{1,5}$/.test(port)) return false;
  if (IPV6_HOST.test(host)) return true;
  return host.split('.').every((part) => DOMAIN_COMPONENT.test(part));
}

function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  // The first component is a registry host when it cannot be a repository component.
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    return { domain: first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first, path: name.slice(slash + 1) };
  }
  return { domain: DEFAULT_DOMAIN, path: name };
}

/**
 * Parses and normalizes a reference: `busybox` → `docker.io/library/busybox:latest`.
 * A reference with neither tag nor digest gets `latest`. Malformed input is INVALID_ARGUMENT.
 */
export function parseReference(input: string): ImageReference {
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`invalid image reference "${input}": ${why}`);
  };
  if (!input) fail('empty');
  if (input !== input.trim()) fail('surrounding whitespace');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) fail(`bad digest "${digest}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) fail(`bad tag "${tag}"`);
  }
  if (!rest) fail('no repository name');
  if (rest.length > MAX_NAME_LENGTH) fail(`repository name longer than ${MAX_NAME_LENGTH} characters`);
  const { domain, path: rawPath } = splitDomain(rest);
  if (!validDomain(domain)) fail(`bad registry host "${domain}"`);
  const path = domain === DEFAULT_DOMAIN && !rawPath.includes('/') ? `${OFFICIAL_REPO_PREFIX}${rawPath}` : rawPath;
  for (const component of path.split('/')) {
    if (!COMPONENT.test(component)) fail(`bad repository path component "${component}" (lower-case letters, digits and separators)`);
  }
  if (SHA256_HEX.test(rawPath) && domain === DEFAULT_DOMAIN && !tag && !digest) {
    fail('a 64-hex-digit name is an image ID, not a repository');
  }
  return { domain, path, tag: tag ?? (digest ? undefined : 'latest'), digest };
}

/** Like parseReference, but undefined instead of an error. */
export function tryParseReference(input: string): ImageReference | undefined {
  try {
    return parseReference(input);
  } catch {
    return undefined;
  }
}
