import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { Mount__Output } from '../../generated/runtime/v1/Mount.js';
import { InvalidArgumentError } from '../../errors/index.js';
import type { OciMount } from '../../oci/types.js';
import type { PodContext } from './types.js';

const PROPAGATION: Record<string, string> = {
  PROPAGATION_PRIVATE: 'rprivate',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

function cleanDest(path: string, what: string): string {
  if (!path.startsWith('/')) throw new InvalidArgumentError(`${what} "${path}" must be an absolute path`);
  return posix.normalize(path).replace(/(.)\/$/, '$1');
}

/**
 * The request's mounts as OCI bind mounts, parents before children. `rro` says whether the
 * pod's handler knows the recursive read-only mount option (Status advertises exactly that).
 */
export function requestMounts(mounts: Mount__Output[], rro = false): OciMount[] {
  const out: OciMount[] = [];
  for (const m of mounts) {
    const destination = cleanDest(m.container_path, 'mount container_path');
    if (!m.host_path) throw new InvalidArgumentError(`mount ${destination}: host_path is required`);
    // CreateContainer mounts image volumes and hands them here as binds of their mount points.
    if (m.image?.image) throw new InvalidArgumentError(`mount ${destination}: image volume was not mounted`);
    if (m.uidMappings.length > 0 || m.gidMappings.length > 0) throw new InvalidArgumentError(`mount ${destination}: ID-mapped mounts are not supported by runcri`);
    if (m.recursive_read_only) {
      if (!m.readonly) throw new InvalidArgumentError(`mount ${destination}: recursive_read_only needs readonly`);
      if (m.propagation !== 'PROPAGATION_PRIVATE') throw new InvalidArgumentError(`mount ${destination}: recursive_read_only needs private propagation`);
      // Without `rro` (runc 1.1) the handler would leave submounts writable: refuse rather than pretend.
      if (!rro) throw new InvalidArgumentError(`mount ${destination}: recursive read-only mounts are not supported by this pod's runtime handler`);
    }
    const options = ['rbind', PROPAGATION[m.propagation] ?? 'rprivate'];
    if (m.readonly) options.push(m.recursive_read_only ? 'rro' : 'ro');
    out.push({ destination, type: 'bind', source: m.host_path, options });
  }
  const depth = (p: string) => p.split('/').length;
  return out.sort((a, b) => depth(a.destination) - depth(b.destination));
}

/** Root propagation that lets the request's slave/shared mounts receive events. */
export function rootfsPropagation(mounts: Mount__Output[]): string | undefined {
  if (mounts.some((m) => m.propagation === 'PROPAGATION_BIDIRECTIONAL')) return 'rshared';
  if (mounts.some((m) => m.propagation === 'PROPAGATION_HOST_TO_CONTAINER')) return 'rslave';
  return undefined;
}

export interface MountPlanInput {
  base: OciMount[];
  privileged: boolean;
  readonlyRootfs: boolean;
  hostIpc: boolean;
  pod: PodContext;
  request: Mount__Output[];
  imageVolumes: string[];
  containerDir: string;
  /** The handler supports `rro` mounts. */
  recursiveReadOnly?: boolean;
}

/** Every mount of the container, and the host directories to create for image volumes. */
export function planMounts(input: MountPlanInput): { mounts: OciMount[]; volumeDirs: string[] } {
  const requested = requestMounts(input.request, input.recursiveReadOnly);
  const taken = new Set(requested.map((m) => m.destination));
  const mounts: OciMount[] = [];
  for (const m of input.base) {
    if (taken.has(m.destination)) continue;
    if (input.privileged && (m.type === 'sysfs' || m.type === 'cgroup')) {
      mounts.push({ ...m, options: m.options.filter((o) => o !== 'ro').concat('rw') });
    } else {
      mounts.push({ ...m, options: [...m.options] });
    }
  }
  const podFile = (destination: string, source: string | undefined) => {
    if (!source || taken.has(destination)) return;
    mounts.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate', input.readonlyRootfs ? 'ro' : 'rw'] });
  };
  podFile('/etc/hostname', input.pod.files.hostname);
  podFile('/etc/resolv.conf', input.pod.files.resolvConf);
  podFile('/etc/hosts', input.pod.files.hosts);
  if (!taken.has('/dev/shm')) {
    const shm = input.hostIpc ? '/dev/shm' : input.pod.files.shm;
    if (shm) mounts.push({ destination: '/dev/shm', type: 'bind', source: shm, options: ['rbind', 'rprivate', 'rw'] });
    else mounts.push({ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] });
  }
  const volumeDirs: string[] = [];
  for (const v of input.imageVolumes) {
    const destination = cleanDest(v, 'image VOLUME');
    if (taken.has(destination)) continue;
    const dir = posix.join(input.containerDir, 'volumes', createHash('sha256').update(destination).digest('hex').slice(0, 16));
    volumeDirs.push(dir);
    mounts.push({ destination, type: 'bind', source: dir, options: ['rbind', 'rprivate', 'rw'] });
  }
  mounts.push(...requested);
  return { mounts, volumeDirs };
}
