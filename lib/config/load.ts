import { readFileSync, existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { InvalidArgumentError, messageOf } from '../errors/index.js';
import { Paths } from '../paths/index.js';
import { defaultConfig, LOG_LEVELS, runtimeHandlerDefaults, type Config, type RegistryEntry, type RuntimeHandlerConfig } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/runcri/runcri.toml';

/** A refused setting: names the key so the operator can find it. */
export class ConfigError extends InvalidArgumentError {
  constructor(readonly key: string, reason: string) {
    super(`config: ${key}: ${reason}`);
  }
}

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (isTable(v)) return 'table';
  return typeof v;
}

/**
 * Overlay `input` onto `base`, refusing keys `base` does not have and values of another type.
 * `base` is the default, so its shape is the schema.
 */
function overlay(base: Table, input: Table, path: string): Table {
  const out: Table = { ...base };
  for (const [key, value] of Object.entries(input)) {
    const dotted = path ? `${path}.${key}` : key;
    if (!(key in base)) throw new ConfigError(dotted, 'unknown setting');
    const current = base[key];
    if (isTable(current)) {
      if (!isTable(value)) throw new ConfigError(dotted, `expected a table, got ${typeName(value)}`);
      out[key] = overlay(current, value, dotted);
    } else if (Array.isArray(current)) {
      if (!Array.isArray(value)) throw new ConfigError(dotted, `expected an array, got ${typeName(value)}`);
      out[key] = value;
    } else {
      if (typeof value !== typeof current) throw new ConfigError(dotted, `expected a ${typeof current}, got ${typeName(value)}`);
      out[key] = value;
    }
  }
  return out;
}

function stringArray(value: unknown, key: string): string[] {
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string')) throw new ConfigError(key, 'expected an array of strings');
  return value as string[];
}

function runtimeHandler(name: string, raw: unknown, paths: Paths): RuntimeHandlerConfig {
  const key = `runtimes.${name}`;
  if (!isTable(raw)) throw new ConfigError(key, 'expected a table');
  const base = runtimeHandlerDefaults('', '') as unknown as Table;
  const merged = overlay(base, raw, key) as unknown as RuntimeHandlerConfig;
  if (!merged.path) throw new ConfigError(`${key}.path`, 'required');
  requireAbsolute(`${key}.path`, merged.path);
  stringArray(merged.allowed_annotations, `${key}.allowed_annotations`);
  if (merged.monitor_path) requireAbsolute(`${key}.monitor_path`, merged.monitor_path);
  requireOneOf(`${key}.recursive_read_only_mounts`, merged.recursive_read_only_mounts, ['auto', 'true', 'false']);
  return { ...merged, root: merged.root || paths.runtimeRoot(name) };
}

function registryEntry(raw: unknown, index: number): RegistryEntry {
  const key = `image.registries[${index}]`;
  if (!isTable(raw)) throw new ConfigError(key, 'expected a table');
  // `mirror-by-digest-only` is accepted for registries.conf compatibility; runcri pulls
  // tags from mirrors as well.
  const base: Table = { prefix: '', location: '', insecure: false, blocked: false, mirror: [], 'mirror-by-digest-only': false };
  const merged = overlay(base, raw, key);
  const location = merged.location as string;
  const prefix = (merged.prefix as string) || location;
  if (!prefix) throw new ConfigError(`${key}.location`, 'a registry needs a prefix or a location');
  const mirrors = (merged.mirror as unknown[]).map((m, i) => {
    const mkey = `${key}.mirror[${i}]`;
    if (!isTable(m)) throw new ConfigError(mkey, 'expected a table');
    const mm = overlay({ location: '', insecure: false, 'pull-from-mirror': 'all' }, m, mkey);
    if (!mm.location) throw new ConfigError(`${mkey}.location`, 'required');
    return { location: mm.location as string, insecure: mm.insecure as boolean };
  });
  return { prefix, location: location || prefix, insecure: merged.insecure as boolean, blocked: merged.blocked as boolean, mirrors };
}

/** Reads `[[registry]]` entries from a containers-registries.conf v2 file. */
export function readRegistriesConf(path: string): RegistryEntry[] {
  let doc: Table;
  try {
    doc = parseToml(readFileSync(path, 'utf8')) as Table;
  } catch (err) {
    throw new ConfigError('image.registries_conf', `${path}: ${messageOf(err)}`);
  }
  const entries = doc.registry;
  if (entries === undefined) return [];
  if (!Array.isArray(entries)) throw new ConfigError('image.registries_conf', `${path}: [[registry]] must be an array of tables`);
  return entries.map((e, i) => registryEntry(e, i));
}

function requireAbsolute(key: string, value: string): void {
  if (!isAbsolute(value)) throw new ConfigError(key, `must be an absolute path, got "${value}"`);
}

function requirePositiveInteger(key: string, value: number, allowZero = false): void {
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) throw new ConfigError(key, `must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${value}`);
}

function requireOneOf<T extends string>(key: string, value: string, allowed: readonly T[]): void {
  if (!allowed.includes(value as T)) throw new ConfigError(key, `must be one of ${allowed.join(', ')}, got "${value}"`);
}

/** Checks values, then fills the settings whose defaults derive from others. */
function finish(raw: Table, runtimesRaw: Table | undefined, registriesRaw: unknown[] | undefined): Config {
  const config = raw as unknown as Config;
  requireAbsolute('socket', config.socket);
  requireAbsolute('root', config.root);
  requireAbsolute('state_dir', config.state_dir);
  requireOneOf('log_level', config.log_level, LOG_LEVELS);
  requireOneOf('cgroup_driver', config.cgroup_driver, ['cgroupfs', 'systemd']);
  requirePositiveInteger('max_message_bytes', config.max_message_bytes);
  requirePositiveInteger('shutdown_grace_ms', config.shutdown_grace_ms, true);
  requireAbsolute('runtime.conmon_path', config.runtime.conmon_path);
  if (config.runtime.criu_path) requireAbsolute('runtime.criu_path', config.runtime.criu_path);
  requireOneOf('runtime.restrict_oom_score_adj', config.runtime.restrict_oom_score_adj, ['auto', 'true', 'false']);
  requirePositiveInteger('runtime.pids_limit', config.runtime.pids_limit, true);
  if (config.runtime.idmap_mount_helper) requireAbsolute('runtime.idmap_mount_helper', config.runtime.idmap_mount_helper);
  stringArray(config.runtime.default_capabilities, 'runtime.default_capabilities');
  stringArray(config.runtime.cdi_spec_dirs, 'runtime.cdi_spec_dirs').forEach((d, i) => requireAbsolute(`runtime.cdi_spec_dirs[${i}]`, d));
  config.runtime.default_capabilities = config.runtime.default_capabilities.map((c) => c.toUpperCase().replace(/^CAP_/, ''));
  requireAbsolute('network.conf_dir', config.network.conf_dir);
  stringArray(config.network.bin_dirs, 'network.bin_dirs').forEach((d, i) => requireAbsolute(`network.bin_dirs[${i}]`, d));
  if (!config.network.cache_dir) config.network.cache_dir = `${config.root}/cni-cache`;
  requirePositiveInteger('image.max_concurrent_downloads', config.image.max_concurrent_downloads);
  requirePositiveInteger('image.stall_timeout_seconds', config.image.stall_timeout_seconds);
  stringArray(config.image.pinned_images, 'image.pinned_images');
  requirePositiveInteger('streaming.port', config.streaming.port, true);
  requirePositiveInteger('metrics.port', config.metrics.port, true);

  // Handlers named in the file replace the built-in list only where they share a name.
  const runtimes: Record<string, RuntimeHandlerConfig> = {};
  const paths = new Paths(config.root, config.state_dir);
  for (const [name, handler] of Object.entries(defaultConfig().runtimes)) {
    runtimes[name] = { ...handler, root: paths.runtimeRoot(name) };
  }
  if (existsSync('/usr/bin/crun')) {
    runtimes.crun = runtimeHandlerDefaults('/usr/bin/crun', paths.runtimeRoot('crun'));
  }
  for (const [name, handler] of Object.entries(runtimesRaw ?? {})) {
    if (!/^[a-z0-9][a-z0-9_.-]*$/.test(name)) throw new ConfigError(`runtimes.${name}`, 'handler names are lower-case letters, digits, ".", "_" and "-"');
    runtimes[name] = runtimeHandler(name, handler, paths);
  }
  config.runtimes = runtimes;
  if (!runtimes[config.runtime.default_handler]) {
    throw new ConfigError('runtime.default_handler', `no handler "${config.runtime.default_handler}" (have ${Object.keys(runtimes).join(', ')})`);
  }

  config.image.registries = (registriesRaw ?? []).map((e, i) => registryEntry(e, i));
  if (config.image.registries_conf) {
    requireAbsolute('image.registries_conf', config.image.registries_conf);
    config.image.registries.push(...readRegistriesConf(config.image.registries_conf));
  }
  return config;
}

export interface LoadOptions {
  /** The file to read; when omitted the default path is read if it exists. */
  path?: string;
  /** Flag values, as dotted keys (`root`, `network.conf_dir`), applied over the file. */
  overrides?: Record<string, unknown>;
}

function setDotted(target: Table, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isTable(node[part])) node[part] = {};
    node = node[part] as Table;
  }
  node[parts[parts.length - 1]!] = value;
}

/** Parses TOML text (plus flag overrides) into a checked, complete config. */
export function configFromToml(text: string, overrides: Record<string, unknown> = {}, source = 'config'): Config {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    throw new ConfigError(source, messageOf(err));
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) setDotted(doc, key, value);
  }
  const { runtimes, ...rest } = doc;
  if (runtimes !== undefined && !isTable(runtimes)) throw new ConfigError('runtimes', 'expected a table');
  const image = isTable(rest.image) ? { ...rest.image } : rest.image;
  let registries: unknown[] | undefined;
  if (isTable(image)) {
    if (image.registries !== undefined && !Array.isArray(image.registries)) throw new ConfigError('image.registries', 'expected an array of tables');
    registries = image.registries as unknown[] | undefined;
    delete image.registries;
    rest.image = image;
  }
  // Registries may also be written at the top level, as in registries.conf.
  if (rest.registry !== undefined) {
    if (!Array.isArray(rest.registry)) throw new ConfigError('registry', 'expected an array of tables ([[registry]])');
    registries = [...(registries ?? []), ...rest.registry];
    delete rest.registry;
  }
  const base = defaultConfig() as unknown as Table;
  delete (base as { runtimes?: unknown }).runtimes;
  const merged = overlay(base, rest, '');
  merged.runtimes = {};
  return finish(merged, runtimes as Table | undefined, registries);
}

export function loadConfig(options: LoadOptions = {}): Config {
  const path = options.path ?? DEFAULT_CONFIG_PATH;
  let text = '';
  if (options.path !== undefined || existsSync(path)) {
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError('--config', `cannot read ${path}: ${messageOf(err)}`);
    }
  }
  return configFromToml(text, options.overrides, path);
}

/** The effective config as TOML, as `runcri config` prints it. */
export function configToToml(config: Config): string {
  const { image, ...rest } = config;
  const { registries, ...imageRest } = image;
  const doc: Table = { ...rest, image: { ...imageRest } };
  let text = stringifyToml(doc);
  for (const r of registries) {
    text += `\n[[registry]]\n${stringifyToml({ prefix: r.prefix, location: r.location, insecure: r.insecure, blocked: r.blocked })}`;
    for (const m of r.mirrors) text += `\n[[registry.mirror]]\n${stringifyToml(m)}`;
  }
  return text;
}
