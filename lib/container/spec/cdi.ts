import { posix } from 'node:path';
import type { CdiEdits } from '../../cdi/types.js';
import type { OciDevice, OciDeviceRule, OciHooks, OciMount, OciSpec } from '../../oci/types.js';
import type { EffectiveUser } from './types.js';

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** Sets each variable, replacing one of the same name, else appending. */
function mergeEnv(env: readonly string[], add: readonly string[]): string[] {
  const out = [...env];
  for (const entry of add) {
    const at = out.findIndex((e) => envKey(e) === envKey(entry));
    if (at >= 0) out[at] = entry;
    else out.push(entry);
  }
  return out;
}

/** A mount without a type is a bind mount of its host path (the type CDI leaves out for binds). */
function ociMount(m: CdiEdits['mounts'][number]): OciMount {
  const type = m.type ?? 'bind';
  const options = [...m.options];
  if (type === 'bind' && !options.includes('bind') && !options.includes('rbind')) options.push('bind');
  return { destination: posix.normalize(m.containerPath), type, source: m.hostPath, options };
}

const depth = (m: OciMount) => posix.normalize(m.destination).split('/').filter(Boolean).length;

/**
 * Applies the edits of the container's CDI devices to its spec, as CDI prescribes: variables
 * set (a device's value wins over the image's), device nodes added with a cgroup rule each
 * (replacing a node at the same path), mounts added (replacing one at the same path; then
 * parents before children), hooks appended, additional GIDs joined (0 ignored). A device node
 * the spec gives no owner belongs to the container's user, when that is not root.
 */
export function applyCdiEdits(spec: OciSpec, user: EffectiveUser, edits: CdiEdits | undefined): { spec: OciSpec; user: EffectiveUser } {
  if (!edits || edits.devices.length === 0) return { spec, user };
  const process = { ...spec.process, env: mergeEnv(spec.process.env, edits.env), user: { ...spec.process.user } };

  let devices: OciDevice[] = [...spec.linux.devices];
  const rules: OciDeviceRule[] = [...(spec.linux.resources.devices ?? [])];
  for (const n of edits.deviceNodes) {
    devices = devices.filter((d) => d.path !== n.path);
    const uid = n.uid ?? (process.user.uid > 0 ? process.user.uid : undefined);
    const gid = n.gid ?? (process.user.gid > 0 ? process.user.gid : undefined);
    devices.push({
      type: n.type, path: n.path, major: n.major, minor: n.minor,
      ...(n.fileMode !== undefined ? { fileMode: n.fileMode } : {}), ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}),
    });
    if ((n.type === 'c' || n.type === 'b') && n.access) rules.push({ allow: true, type: n.type, major: n.major, minor: n.minor, access: n.access });
  }

  let mounts = spec.mounts;
  if (edits.mounts.length > 0) {
    mounts = [...spec.mounts];
    for (const m of edits.mounts.map(ociMount)) {
      mounts = mounts.filter((existing) => posix.normalize(existing.destination) !== m.destination);
      mounts.push(m);
    }
    // Array.prototype.sort is stable: mounts of equal depth keep their order
    mounts.sort((a, b) => depth(a) - depth(b));
  }

  let hooks: OciHooks | undefined = spec.hooks;
  if (edits.hooks.length > 0) {
    hooks = { ...spec.hooks };
    for (const h of edits.hooks) {
      const list = [...(hooks[h.hookName] ?? [])];
      list.push({ path: h.path, ...(h.args.length ? { args: [...h.args] } : {}), ...(h.env.length ? { env: [...h.env] } : {}), ...(h.timeout !== undefined ? { timeout: h.timeout } : {}) });
      hooks[h.hookName] = list;
    }
  }

  const groups = [...user.groups];
  const additional = [...(process.user.additionalGids ?? [])];
  for (const gid of edits.additionalGids) {
    if (gid === 0) continue;
    if (!additional.includes(gid)) additional.push(gid);
    if (!groups.includes(gid)) groups.push(gid);
  }
  if (edits.additionalGids.length > 0) process.user.additionalGids = additional;

  return {
    spec: { ...spec, process, mounts, ...(hooks ? { hooks } : {}), linux: { ...spec.linux, devices, resources: { ...spec.linux.resources, devices: rules } } },
    user: { ...user, groups },
  };
}
