/**
 * From a CreateContainer request to the CDI edits its container gets. Devices are requested
 * three ways, all honoured: `CDI_devices` (kubelet 1.28+), `cdi.k8s.io/*` annotations whose
 * values list qualified names (device plugins before that), and `devices` entries whose
 * host_path is a qualified name rather than a path. Everything that reads the host (the spec
 * files, device nodes the spec leaves unspecified, mount sources) happens here, so the spec
 * builder applies plain data.
 */
import { existsSync, statSync, type Stats } from 'node:fs';
import { InvalidArgumentError } from '../errors/index.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { Device__Output } from '../generated/runtime/v1/Device.js';
import { isQualifiedName, parseQualifiedName } from './names.js';
import type { CdiRegistry, CdiView, LoadedDevice } from './registry.js';
import type { CdiContainerEdits, CdiDeviceNode, CdiEdits, ResolvedDeviceNode } from './types.js';

export const CDI_ANNOTATION_PREFIX = 'cdi.k8s.io/';

export interface CdiRequest {
  /** Qualified CDI device names, in request order, each once. */
  names: string[];
  /** The request's `devices` that are host paths, for the ordinary device handling. */
  hostDevices: Device__Output[];
}

/** The CDI devices a container asks for, and its other devices. */
export function cdiRequestOf(config: Pick<ContainerConfig__Output, 'CDI_devices' | 'annotations' | 'devices'>): CdiRequest {
  const names: string[] = [];
  const add = (name: string, from: string) => {
    const parsed = parseQualifiedName(name);
    if ('problem' in parsed) throw new InvalidArgumentError(`${from}: ${parsed.problem}`);
    if (!names.includes(name)) names.push(name);
  };
  for (const d of config.CDI_devices ?? []) add(d.name, 'CDI_devices');
  for (const key of Object.keys(config.annotations ?? {}).filter((k) => k.startsWith(CDI_ANNOTATION_PREFIX)).sort()) {
    for (const name of config.annotations[key]!.split(',').map((n) => n.trim()).filter(Boolean)) add(name, `annotation ${key}`);
  }
  const hostDevices: Device__Output[] = [];
  for (const d of config.devices ?? []) {
    if (isQualifiedName(d.host_path)) add(d.host_path, 'devices');
    else hostDevices.push(d);
  }
  return { names, hostDevices };
}

function emptyEdits(): CdiEdits {
  return { devices: [], env: [], deviceNodes: [], mounts: [], hooks: [], additionalGids: [] };
}

function unresolvable(missing: string[], view: CdiView): InvalidArgumentError {
  const reasons = missing.map((name) => {
    const conflict = view.conflicts.get(name);
    return conflict ? `${name} (defined by more than one spec of the same directory: ${conflict.join(', ')})` : name;
  });
  let message = `unresolvable CDI device${missing.length > 1 ? 's' : ''} ${reasons.join(', ')}`;
  // a device may be missing because the spec meant to define it is broken: say which are
  const broken = [...view.errors].map(([path, err]) => `${path}: ${err}`);
  if (broken.length > 0) {
    message += `; CDI spec files that could not be loaded: ${broken.slice(0, 5).join('; ')}${broken.length > 5 ? `; and ${broken.length - 5} more` : ''}`;
  }
  return new InvalidArgumentError(message);
}

function typeOf(st: Stats): ResolvedDeviceNode['type'] | undefined {
  return st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : undefined;
}

/** A device node with what the spec left out taken from the host node. */
function resolveNode(node: CdiDeviceNode, device: string): ResolvedDeviceNode {
  const hostPath = node.hostPath ?? node.path;
  const access = node.permissions === 'none' ? '' : node.permissions ?? 'rwm';
  const known = node.type !== undefined && ((node.major ?? 0) !== 0 || node.type === 'p');
  const base = { path: node.path, hostPath, access, ...(node.uid !== undefined ? { uid: node.uid } : {}), ...(node.gid !== undefined ? { gid: node.gid } : {}) };
  if (known) {
    return { ...base, type: node.type!, major: node.major ?? 0, minor: node.minor ?? 0, ...(node.fileMode !== undefined ? { fileMode: node.fileMode } : {}) };
  }
  let st: Stats;
  try {
    st = statSync(hostPath);
  } catch {
    throw new InvalidArgumentError(`CDI device ${device}: device node ${hostPath} does not exist on the host`);
  }
  const type = typeOf(st);
  if (!type) throw new InvalidArgumentError(`CDI device ${device}: ${hostPath} is not a device node`);
  if (node.type !== undefined && node.type !== type) throw new InvalidArgumentError(`CDI device ${device}: ${hostPath} is of type ${type}, the spec says ${node.type}`);
  // glibc's major()/minor() split of a Linux dev_t
  const rdev = st.rdev;
  const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff);
  return {
    ...base, type,
    major: type === 'p' ? 0 : (node.major || major), minor: type === 'p' ? 0 : (node.major ? node.minor ?? 0 : minor),
    fileMode: node.fileMode ?? (st.mode & 0o777),
  };
}

function append(out: CdiEdits, edits: CdiContainerEdits, device: string): void {
  if (edits.intelRdt) throw new InvalidArgumentError(`CDI device ${device} needs intelRdt settings, which runcri does not apply`);
  if (edits.netDevices.length > 0) throw new InvalidArgumentError(`CDI device ${device} needs network devices moved into the container, which runcri does not do`);
  out.env.push(...edits.env);
  out.deviceNodes.push(...edits.deviceNodes.map((n) => resolveNode(n, device)));
  for (const m of edits.mounts) {
    const bind = !m.type || m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind');
    if (bind && !existsSync(m.hostPath)) throw new InvalidArgumentError(`CDI device ${device}: mount source ${m.hostPath} does not exist on the host`);
    out.mounts.push({ ...m, options: [...m.options] });
  }
  out.hooks.push(...edits.hooks.map((h) => ({ ...h, args: [...h.args], env: [...h.env] })));
  out.additionalGids.push(...edits.additionalGids);
}

/**
 * The edits for `names`: each spec's own edits once (before its first device's), then each
 * device's. Any name no spec defines is INVALID_ARGUMENT naming it.
 */
export function resolveCdiDevices(registry: CdiRegistry, names: readonly string[]): CdiEdits {
  const out = emptyEdits();
  if (names.length === 0) return out;
  const view = registry.view();
  const found: LoadedDevice[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const d = view.devices.get(name);
    if (d) found.push(d);
    else missing.push(name);
  }
  if (missing.length > 0) throw unresolvable(missing, view);
  const specsApplied = new Set<string>();
  for (const d of found) {
    if (!specsApplied.has(d.path)) {
      specsApplied.add(d.path);
      append(out, d.spec.containerEdits, d.qualifiedName);
    }
    append(out, d.device.containerEdits, d.qualifiedName);
    out.devices.push(d.qualifiedName);
  }
  return out;
}
