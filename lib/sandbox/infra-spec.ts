import { FailedPreconditionError } from '../errors/index.js';
import type { ImageRuntimeConfig } from '../image/index.js';
import type { OciNamespace, OciSpec } from '../oci/index.js';

export interface InfraSpecInput {
  podId: string;
  /** The image's root filesystem, mounted. */
  rootfs: string;
  image: ImageRuntimeConfig;
  /** The pod's pinned namespaces the infra process joins; it gets a PID namespace of its own, which containers then join. */
  namespaces: { network?: string; ipc?: string; uts?: string };
  cgroupsPath: string;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `uid[:gid]` of the image's USER; an infra image names its user by number (no /etc/passwd to read in a pause image). */
function infraUser(user: string | undefined): { uid: number; gid: number } {
  if (!user) return { uid: 0, gid: 0 };
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) throw new FailedPreconditionError(`the infra image's USER "${user}" is not numeric (uid or uid:gid)`);
  const uid = Number(m[1]);
  return { uid, gid: m[2] !== undefined ? Number(m[2]) : uid };
}

/**
 * The OCI spec of a pod's infra container (`runtime.infra_image`): the image's command as
 * PID 1 of the pod's PID namespace, in the pod's network, IPC and UTS namespaces, with a
 * read-only root, no capabilities, no new privileges and no devices: it only has to exist.
 */
export function infraSpec(input: InfraSpecInput): OciSpec {
  const { image } = input;
  const args = [...(image.Entrypoint ?? []), ...(image.Cmd ?? [])];
  if (args.length === 0) throw new FailedPreconditionError('the infra image names no command (ENTRYPOINT or CMD)');
  // A namespace the pod did not pin is the node's (host network or IPC): the infra shares it too.
  const namespaces: OciNamespace[] = [{ type: 'pid' }, { type: 'mount' }];
  const { network, ipc, uts } = input.namespaces;
  if (network) namespaces.push({ type: 'network', path: network });
  if (ipc) namespaces.push({ type: 'ipc', path: ipc });
  if (uts) namespaces.push({ type: 'uts', path: uts });
  const none: string[] = [];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: infraUser(image.User),
      args,
      env: image.Env?.length ? [...image.Env] : [DEFAULT_PATH],
      cwd: image.WorkingDir || '/',
      capabilities: { bounding: none, effective: none, permitted: none, inheritable: none, ambient: none },
      rlimits: [],
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: true },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    annotations: { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': input.podId },
    linux: {
      namespaces,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      cgroupsPath: input.cgroupsPath,
      devices: [],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
