import type { ContainerConfig__Output } from '../../generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig__Output } from '../../generated/runtime/v1/PodSandboxConfig.js';
import type { CdiEdits } from '../../cdi/types.js';
import type { OciDevice, OciIdMapping, OciMount, OciRlimit, OciSeccomp, OciSeccompRule, OciSpec } from '../../oci/types.js';

/** The image's runtime config (the `config` object of an OCI image config). */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  Volumes?: Record<string, unknown> | null;
}

/** What the pod gives its containers: namespaces to join, files to mount, the cgroup to live under. */
export interface PodContext {
  id: string;
  config: PodSandboxConfig__Output;
  /** Paths of the pod's pinned namespaces; a missing one means the container gets its own (or the host's for NODE). */
  namespaces: { network?: string; ipc?: string; uts?: string; pid?: string };
  cgroupParent: string;
  files: { hostname?: string; resolvConf?: string; hosts?: string; shm?: string };
  /** The pod's pinned user namespace and its mappings (userns_options POD); absent: the node's. */
  userNamespace?: { path: string; uidMappings: OciIdMapping[]; gidMappings: OciIdMapping[] };
}

/** A device node the request or `privileged` names, already stat'ed on the host. */
export interface ResolvedDevice {
  hostPath: string;
  containerPath: string;
  permissions: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

/** The seccomp profile format of bundles/: OCI seccomp plus syscalls unlocked by a capability. */
export interface DefaultSeccompProfile extends OciSeccomp {
  capabilitySyscalls?: Record<string, string[]>;
  syscalls: OciSeccompRule[];
}

/** Everything about the host and the daemon that the spec depends on, gathered once at start. */
export interface RuntimeDefaults {
  /** CAP_-prefixed names a container gets by default. */
  capabilities: string[];
  /** The daemon's own effective capabilities: what `privileged` and `ALL` mean here. */
  daemonCapabilities: string[];
  seccomp: DefaultSeccompProfile;
  /** What a request that names no seccomp profile gets (`runtime.seccomp_use_default_when_empty`). */
  seccompWhenEmpty: 'runtime-default' | 'unconfined';
  maskedPaths: string[];
  readonlyPaths: string[];
  baseMounts: OciMount[];
  /** Default rlimits, already no higher than the daemon's own hard limits. */
  rlimits: OciRlimit[];
  env: string[];
  oomRestriction: { restricted: boolean; own: number };
  pidsLimit: number;
  cgroupDriver: 'cgroupfs' | 'systemd';
  cgroupV2: boolean;
}

/** Files read from inside the container's rootfs (absent when the image has none). */
export interface RootfsIdentity {
  passwd?: string;
  group?: string;
}

export interface SpecInput {
  containerId: string;
  /** The container's own directory: image volumes get empty directories under it. */
  containerDir: string;
  rootfs: string;
  pod: PodContext;
  container: ContainerConfig__Output;
  image: ImageRuntimeConfig;
  defaults: RuntimeDefaults;
  identity: RootfsIdentity;
  /** Request devices, resolved on the host, in request order. */
  devices: ResolvedDevice[];
  /** Every host device, for `privileged`. */
  hostDevices: ResolvedDevice[];
  /** A Localhost seccomp profile's parsed content, when the request names one. */
  localhostSeccomp?: OciSeccomp;
  /** PID of the target container's init, for a TARGET pid namespace. */
  targetPid?: number;
  /** What the pod's runtime handler was found to support, and its settings that shape a spec. */
  handler?: {
    recursiveReadOnlyMounts: boolean;
    /** Runtime-interpreted annotations (or prefixes of them) the handler may receive. */
    allowedAnnotations?: string[];
    /** Privileged containers get no host devices and no blanket device access (containerd's setting). */
    privilegedWithoutHostDevices?: boolean;
  };
  /** The edits of the request's CDI devices, resolved on the host (lib/cdi). */
  cdi?: CdiEdits;
}

export interface EffectiveUser {
  uid: number;
  gid: number;
  /** Every group the process holds, primary first. */
  groups: number[];
}

export interface SpecResult {
  spec: OciSpec;
  user: EffectiveUser;
  /** Host directories to create (empty) before the container starts: image volumes. */
  volumeDirs: string[];
  /** Requests this host cannot honour but which are safe to ignore, for the log. */
  warnings: string[];
  stopSignal: string;
}

export type { OciDevice };
