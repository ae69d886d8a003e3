import { readFileSync } from 'node:fs';
import { InvalidArgumentError, messageOf } from '../errors/index.js';
import type { AuthConfig__Output } from '../generated/runtime/v1/AuthConfig.js';
import type { RegistryAuth } from './types.js';

const DOCKER_HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];

export function authFromCri(auth: AuthConfig__Output | null | undefined): RegistryAuth | undefined {
  if (!auth) return undefined;
  const out: RegistryAuth = {};
  if (auth.username) out.username = auth.username;
  if (auth.password) out.password = auth.password;
  if (auth.auth) out.auth = auth.auth;
  if (auth.identity_token) out.identityToken = auth.identity_token;
  if (auth.registry_token) out.registryToken = auth.registry_token;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** username/password from either form; a malformed `auth` is the caller's error. */
export function basicCredentials(auth: RegistryAuth): { username: string; password: string } | undefined {
  if (auth.username !== undefined && auth.password !== undefined) return { username: auth.username, password: auth.password };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new InvalidArgumentError('auth: expected base64 of "username:password"');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

function hostOfKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//, '').split('/')[0]!;
}

/**
 * Credentials from a docker `config.json` (`auths` map), looked up by registry host. Read on
 * every lookup so an operator's edit applies to the next pull without a restart.
 */
export function credentialsFromFile(path: string, host: string): RegistryAuth | undefined {
  if (!path) return undefined;
  let doc: { auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }> };
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as typeof doc;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InvalidArgumentError(`credentials file ${path}: ${messageOf(err)}`);
  }
  const wanted = DOCKER_HUB_KEYS.includes(host) ? DOCKER_HUB_KEYS : [host];
  for (const [key, entry] of Object.entries(doc.auths ?? {})) {
    if (!wanted.includes(key) && !wanted.includes(hostOfKey(key))) continue;
    const auth: RegistryAuth = {};
    if (entry.auth) auth.auth = entry.auth;
    if (entry.username) auth.username = entry.username;
    if (entry.password) auth.password = entry.password;
    if (entry.identitytoken) auth.identityToken = entry.identitytoken;
    if (entry.registrytoken) auth.registryToken = entry.registrytoken;
    return auth;
  }
  return undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (the first challenge). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!)) !== null) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}
