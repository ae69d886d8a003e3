import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../../errors/index.js';

/** One plugin entry of a network configuration list, as written by the operator. */
export type PluginConf = Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> };

/** A network configuration list (a single-plugin `.conf` is read as a list of one). */
export interface NetworkConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
  /** The operator turned CHECK off for this network. */
  disableCheck: boolean;
  /** The file it came from. */
  file: string;
  /** The list as JSON: what the result cache keeps so DEL runs with the config ADD used. */
  source: string;
}

export class ConfError extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function plugin(raw: unknown, where: string): PluginConf {
  if (!isObject(raw) || typeof raw.type !== 'string' || !raw.type) throw new ConfError(`${where}: a plugin needs a "type"`);
  if (raw.type.includes('/') || raw.type.startsWith('.')) throw new ConfError(`${where}: plugin type "${raw.type}" is not a file name`);
  return raw as PluginConf;
}

/** Parses a `.conflist` (or, with `single`, a `.conf`/`.json` plugin config) into a list. */
export function parseNetworkConf(text: string, file: string, single: boolean): NetworkConfList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfError(`${file}: ${messageOf(err)}`);
  }
  if (!isObject(doc)) throw new ConfError(`${file}: not a JSON object`);
  if (typeof doc.name !== 'string' || !doc.name) throw new ConfError(`${file}: "name" is required`);
  const cniVersion = typeof doc.cniVersion === 'string' && doc.cniVersion ? doc.cniVersion : '0.2.0';
  let plugins: PluginConf[];
  if (!single || Array.isArray(doc.plugins)) {
    if (!Array.isArray(doc.plugins) || doc.plugins.length === 0) throw new ConfError(`${file}: "plugins" must be a non-empty list`);
    plugins = doc.plugins.map((p, i) => plugin(p, `${file}: plugins[${i}]`));
  } else {
    const { cniVersion: _v, name: _n, ...rest } = doc;
    plugins = [plugin(rest, file)];
  }
  const list = { cniVersion, name: doc.name, disableCheck: doc.disableCheck === true, plugins };
  return { ...list, file, source: JSON.stringify(list) };
}

/** Network config files in a directory, in the order they are tried: by name, as libcni sorts them. */
export function configFiles(confDir: string): string[] {
  try {
    return readdirSync(confDir).filter((n) => /\.(conflist|conf|json)$/.test(n)).sort();
  } catch {
    return [];
  }
}

export interface Discovery {
  network?: NetworkConfList;
  /** Why there is none: no file, or every file was invalid (the first reason kept). */
  problem?: string;
}

/** The first valid network configuration in the directory, by file name. */
export function discoverNetwork(confDir: string): Discovery {
  const names = configFiles(confDir);
  if (names.length === 0) return { problem: `no CNI configuration file in ${confDir}` };
  let problem: string | undefined;
  for (const name of names) {
    const file = join(confDir, name);
    try {
      return { network: parseNetworkConf(readFileSync(file, 'utf8'), file, !name.endsWith('.conflist')) };
    } catch (err) {
      problem ??= messageOf(err);
    }
  }
  return { problem: `no valid CNI configuration in ${confDir}: ${problem}` };
}
