/**
 * Reading one CDI spec file (JSON, or YAML of the form CDI writes) into a checked CdiSpec:
 * unknown fields are refused, field names match case-insensitively (an exact match first), a
 * spec must name a released cdiVersion no older than the features it uses, and its kind,
 * device names and edits must be valid. A spec that fails any check is not loaded at all.
 */
import { extname } from 'node:path';
import { deviceNameProblem, parseKind } from './names.js';
import type { CdiContainerEdits, CdiDevice, CdiDeviceNode, CdiHook, CdiHookName, CdiMount, CdiSpec } from './types.js';
import { PlainScalar, parseYaml } from './yaml.js';

export class CdiSpecError extends Error {}

/** Released CDI specification versions, oldest first. */
export const CDI_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.4.0', '0.5.0', '0.6.0', '0.7.0', '0.8.0', '1.0.0', '1.1.0'] as const;
const EARLIEST_REQUIRED = '0.3.0';
const HOOK_NAMES: readonly CdiHookName[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

type Raw = unknown;

function fail(where: string, message: string): never {
  throw new CdiSpecError(where ? `${where}: ${message}` : message);
}

/** The object's fields by their known names; unknown or doubled fields are refused. */
function fieldsOf(value: Raw, where: string, known: readonly string[]): Map<string, Raw> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof PlainScalar) fail(where, 'expected an object');
  const out = new Map<string, Raw>();
  const exact = new Set(Object.keys(value));
  for (const [key, v] of Object.entries(value)) {
    const name = known.includes(key) ? key : known.find((k) => k.toLowerCase() === key.toLowerCase() && !exact.has(k));
    if (!name) fail(where, `unknown field "${key}"`);
    if (out.has(name)) fail(where, `field "${name}" is given twice`);
    out.set(name, v);
  }
  return out;
}

function str(value: Raw, where: string): string {
  if (typeof value === 'string') return value;
  if (value instanceof PlainScalar) return value.text;
  return fail(where, 'expected a string');
}

function optStr(value: Raw, where: string): string | undefined {
  return value === undefined || value === null ? undefined : str(value, where);
}

/** An integer: a JSON number, or a YAML plain scalar in decimal, 0x hex, 0o or leading-0 octal. */
function int(value: Raw, where: string, min: number, max: number): number {
  let n: number;
  if (typeof value === 'number') {
    n = value;
  } else if (value instanceof PlainScalar) {
    const t = value.text.replace(/_/g, '');
    const m = /^([+-]?)(?:0x([0-9a-fA-F]+)|0o([0-7]+)|0([0-7]+)|([0-9]+))$/.exec(t);
    if (!m) fail(where, `"${value.text}" is not an integer`);
    const sign = m[1] === '-' ? -1 : 1;
    n = sign * (m[2] ? parseInt(m[2], 16) : m[3] ? parseInt(m[3], 8) : m[4] ? parseInt(m[4], 8) : Number(m[5]));
  } else {
    return fail(where, 'expected an integer');
  }
  if (!Number.isSafeInteger(n) || n < min || n > max) fail(where, `${n} is not an integer from ${min} to ${max}`);
  return n;
}

function optInt(value: Raw, where: string, min: number, max: number): number | undefined {
  return value === undefined || value === null ? undefined : int(value, where, min, max);
}

function bool(value: Raw, where: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value instanceof PlainScalar) {
    if (/^(true|True|TRUE|yes|Yes|YES|on|On|ON)$/.test(value.text)) return true;
    if (/^(false|False|FALSE|no|No|NO|off|Off|OFF)$/.test(value.text)) return false;
  }
  return fail(where, 'expected true or false');
}

function list(value: Raw, where: string): Raw[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(where, 'expected a list');
  return value;
}

function strList(value: Raw, where: string): string[] {
  return list(value, where).map((v, i) => str(v, `${where}[${i}]`));
}

function strMap(value: Raw, where: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof PlainScalar) fail(where, 'expected a map of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) out[k] = str(v, `${where}.${k}`);
  return out;
}

function env(value: Raw, where: string): string[] {
  const entries = strList(value, where);
  entries.forEach((e, i) => {
    if (e.indexOf('=') <= 0) fail(`${where}[${i}]`, `"${e}" is not NAME=VALUE`);
  });
  return entries;
}

function absolute(path: string, where: string): string {
  if (!path.startsWith('/')) fail(where, `"${path}" must be an absolute path`);
  return path;
}

function deviceNode(value: Raw, where: string): CdiDeviceNode {
  const f = fieldsOf(value, where, ['path', 'hostPath', 'type', 'major', 'minor', 'fileMode', 'permissions', 'uid', 'gid']);
  const path = str(f.get('path'), `${where}.path`);
  if (!path) fail(`${where}.path`, 'required');
  const type = optStr(f.get('type'), `${where}.type`) || undefined;
  if (type !== undefined && !['b', 'c', 'u', 'p'].includes(type)) fail(`${where}.type`, `"${type}" is not one of b, c, u, p`);
  const permissions = optStr(f.get('permissions'), `${where}.permissions`) || undefined;
  if (permissions !== undefined && permissions !== 'none' && !/^[rwm]+$/.test(permissions)) fail(`${where}.permissions`, `"${permissions}" is not a combination of r, w and m (or none)`);
  const hostPath = optStr(f.get('hostPath'), `${where}.hostPath`) || undefined;
  const node: CdiDeviceNode = { path: absolute(path, `${where}.path`), ...(hostPath ? { hostPath: absolute(hostPath, `${where}.hostPath`) } : {}) };
  if (type) node.type = type as CdiDeviceNode['type'];
  // -1 would be a cgroup wildcard: device numbers are never negative here
  const major = optInt(f.get('major'), `${where}.major`, 0, 2 ** 32 - 1);
  const minor = optInt(f.get('minor'), `${where}.minor`, 0, 2 ** 32 - 1);
  const fileMode = optInt(f.get('fileMode'), `${where}.fileMode`, 0, 2 ** 32 - 1);
  const uid = optInt(f.get('uid'), `${where}.uid`, 0, 2 ** 32 - 1);
  const gid = optInt(f.get('gid'), `${where}.gid`, 0, 2 ** 32 - 1);
  return {
    ...node,
    ...(major !== undefined ? { major } : {}), ...(minor !== undefined ? { minor } : {}), ...(fileMode !== undefined ? { fileMode } : {}),
    ...(permissions !== undefined ? { permissions } : {}), ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}),
  };
}

function mount(value: Raw, where: string): CdiMount {
  const f = fieldsOf(value, where, ['hostPath', 'containerPath', 'type', 'options']);
  const hostPath = str(f.get('hostPath'), `${where}.hostPath`);
  const containerPath = str(f.get('containerPath'), `${where}.containerPath`);
  if (!hostPath) fail(`${where}.hostPath`, 'required');
  if (!containerPath) fail(`${where}.containerPath`, 'required');
  const type = optStr(f.get('type'), `${where}.type`) || undefined;
  return { hostPath, containerPath: absolute(containerPath, `${where}.containerPath`), ...(type ? { type } : {}), options: strList(f.get('options'), `${where}.options`) };
}

function hook(value: Raw, where: string): CdiHook {
  const f = fieldsOf(value, where, ['hookName', 'path', 'args', 'env', 'timeout']);
  const hookName = str(f.get('hookName'), `${where}.hookName`) as CdiHookName;
  if (!HOOK_NAMES.includes(hookName)) fail(`${where}.hookName`, `"${hookName}" is not one of ${HOOK_NAMES.join(', ')}`);
  const path = str(f.get('path'), `${where}.path`);
  if (!path) fail(`${where}.path`, 'required');
  const timeout = optInt(f.get('timeout'), `${where}.timeout`, 1, 2 ** 31 - 1);
  return { hookName, path: absolute(path, `${where}.path`), args: strList(f.get('args'), `${where}.args`), env: env(f.get('env'), `${where}.env`), ...(timeout !== undefined ? { timeout } : {}) };
}

function intelRdt(value: Raw, where: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  const f = fieldsOf(value, where, ['closID', 'l3CacheSchema', 'memBwSchema', 'enableCMT', 'enableMBM', 'schemata', 'enableMonitoring']);
  const out: Record<string, unknown> = {};
  for (const [k, v] of f) out[k] = k.startsWith('enable') ? bool(v, `${where}.${k}`) : k === 'schemata' ? strList(v, `${where}.${k}`) : str(v, `${where}.${k}`);
  return out;
}

function edits(value: Raw, where: string): CdiContainerEdits {
  if (value === undefined || value === null) return { env: [], deviceNodes: [], mounts: [], hooks: [], additionalGids: [], netDevices: [] };
  const f = fieldsOf(value, where, ['env', 'deviceNodes', 'hooks', 'mounts', 'intelRdt', 'additionalGids', 'netDevices']);
  const rdt = intelRdt(f.get('intelRdt'), `${where}.intelRdt`);
  return {
    env: env(f.get('env'), `${where}.env`),
    deviceNodes: list(f.get('deviceNodes'), `${where}.deviceNodes`).map((d, i) => deviceNode(d, `${where}.deviceNodes[${i}]`)),
    mounts: list(f.get('mounts'), `${where}.mounts`).map((m, i) => mount(m, `${where}.mounts[${i}]`)),
    hooks: list(f.get('hooks'), `${where}.hooks`).map((h, i) => hook(h, `${where}.hooks[${i}]`)),
    additionalGids: list(f.get('additionalGids'), `${where}.additionalGids`).map((g, i) => int(g, `${where}.additionalGids[${i}]`, 0, 2 ** 32 - 1)),
    ...(rdt ? { intelRdt: rdt } : {}),
    netDevices: list(f.get('netDevices'), `${where}.netDevices`).map((n, i) => {
      const nf = fieldsOf(n, `${where}.netDevices[${i}]`, ['hostInterfaceName', 'name']);
      const hostInterfaceName = str(nf.get('hostInterfaceName'), `${where}.netDevices[${i}].hostInterfaceName`);
      const name = str(nf.get('name'), `${where}.netDevices[${i}].name`);
      if (!hostInterfaceName || !name) fail(`${where}.netDevices[${i}]`, 'hostInterfaceName and name are required');
      return { hostInterfaceName, name };
    }),
  };
}

function isEmpty(e: CdiContainerEdits): boolean {
  return !e.env.length && !e.deviceNodes.length && !e.mounts.length && !e.hooks.length && !e.additionalGids.length && !e.intelRdt && !e.netDevices.length;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** The oldest CDI version that has every feature the spec uses. */
export function minimumVersion(spec: Omit<CdiSpec, 'cdiVersion'>): string {
  const all = [spec.containerEdits, ...spec.devices.map((d) => d.containerEdits)];
  const rdt = all.map((e) => e.intelRdt).filter((r): r is Record<string, unknown> => !!r);
  if (all.some((e) => e.netDevices.length > 0) || rdt.some((r) => 'schemata' in r || r.enableMonitoring === true)) return '1.1.0';
  if (rdt.length > 0 || all.some((e) => e.additionalGids.length > 0)) return '0.7.0';
  if (Object.keys(spec.annotations).length > 0 || spec.devices.some((d) => Object.keys(d.annotations).length > 0) || spec.class.includes('.')) return '0.6.0';
  if (spec.devices.some((d) => /^[0-9]/.test(d.name)) || all.some((e) => e.deviceNodes.some((n) => n.hostPath))) return '0.5.0';
  if (all.some((e) => e.mounts.some((m) => m.type))) return '0.4.0';
  return EARLIEST_REQUIRED;
}

/** Checks a parsed document as a CDI spec. */
export function decodeSpec(raw: Raw): CdiSpec {
  const f = fieldsOf(raw, '', ['cdiVersion', 'kind', 'annotations', 'devices', 'containerEdits']);
  const version = str(f.get('cdiVersion'), 'cdiVersion').replace(/^v/, '');
  if (!(CDI_VERSIONS as readonly string[]).includes(version)) fail('cdiVersion', `"${version}" is not a released CDI version (${CDI_VERSIONS.join(', ')})`);
  const kindText = str(f.get('kind'), 'kind');
  const kind = parseKind(kindText);
  if ('problem' in kind) fail('kind', kind.problem);
  const devices: CdiDevice[] = list(f.get('devices'), 'devices').map((d, i) => {
    const where = `devices[${i}]`;
    const df = fieldsOf(d, where, ['name', 'annotations', 'containerEdits']);
    const name = str(df.get('name'), `${where}.name`);
    const problem = deviceNameProblem(name);
    if (problem) fail(`${where}.name`, problem);
    const containerEdits = edits(df.get('containerEdits'), `${where}.containerEdits`);
    if (isEmpty(containerEdits)) fail(`${where}.containerEdits`, `device "${name}" has no edits`);
    return { name, annotations: strMap(df.get('annotations'), `${where}.annotations`), containerEdits };
  });
  if (devices.length === 0) fail('devices', 'a spec must define at least one device');
  const seen = new Set<string>();
  for (const d of devices) {
    if (seen.has(d.name)) fail('devices', `device "${d.name}" is defined twice`);
    seen.add(d.name);
  }
  const spec = { kind: kindText, vendor: kind.vendor, class: kind.class, annotations: strMap(f.get('annotations'), 'annotations'), devices, containerEdits: edits(f.get('containerEdits'), 'containerEdits') };
  const needed = minimumVersion(spec);
  if (compareVersions(version, needed) < 0) fail('cdiVersion', `the spec uses features of CDI ${needed}, newer than its cdiVersion ${version}`);
  for (const [i, e] of [spec.containerEdits, ...devices.map((d) => d.containerEdits)].entries()) {
    if (e.intelRdt && compareVersions(version, '1.1.0') >= 0 && ('enableCMT' in e.intelRdt || 'enableMBM' in e.intelRdt)) {
      fail(i === 0 ? 'containerEdits.intelRdt' : `devices[${i - 1}].containerEdits.intelRdt`, `enableCMT and enableMBM are not part of CDI ${version}`);
    }
  }
  return { cdiVersion: version, ...spec };
}

/** Parses a spec file's text by its extension (.json or .yaml) and checks it. */
export function parseSpecFile(text: string, path: string): CdiSpec {
  let raw: Raw;
  try {
    raw = extname(path) === '.json' ? (JSON.parse(text) as Raw) : parseYaml(text);
  } catch (err) {
    throw new CdiSpecError(`not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return decodeSpec(raw);
}
