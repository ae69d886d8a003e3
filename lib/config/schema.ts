/**
 * The daemon's settings: their types, built-in defaults and validation. Every setting has a
 * default so the daemon runs with no config file at all.
 */
import { LOG_LEVELS, type LogLevel } from '../log/index.js';

export interface RegistryMirror {
  location: string;
  insecure: boolean;
}

/** One `[[registry]]` entry, in the shape of containers-registries.conf v2. */
export interface RegistryEntry {
  prefix: string;
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrors: RegistryMirror[];
}

export interface RuntimeHandlerConfig {
  /** Path of the OCI runtime binary (runc, crun). */
  path: string;
  /** The runtime's own state root (`--root`). */
  root: string;
  /** Annotations a pod may pass through to this handler. */
  allowed_annotations: string[];
  privileged_without_host_devices: boolean;
  /** The container monitor for this handler; empty: `runtime.conmon_path`. */
  monitor_path: string;
  /**
   * Whether the binary supports `rro` (recursive read-only) mounts: `auto` asks `BINARY features`
   * and, for a binary without that command, means no.
   */
  recursive_read_only_mounts: 'auto' | 'true' | 'false';
}

export interface Config {
  socket: string;
  root: string;
  state_dir: string;
  log_level: LogLevel;
  /** Largest gRPC message accepted or sent, in bytes (kubelet's client allows 16 MiB). */
  max_message_bytes: number;
  /** Bounded wait for in-flight RPCs at shutdown, in milliseconds. */
  shutdown_grace_ms: number;
  cgroup_driver: 'cgroupfs' | 'systemd';
  runtime: {
    default_handler: string;
    conmon_path: string;
    /** The CRIU binary checkpoints and restores use (runc's `--criu`); empty: `criu` on PATH. */
    criu_path: string;
    /** Capabilities a container gets unless it adds or drops some. */
    default_capabilities: string[];
    /** A seccomp profile file for `RuntimeDefault`; empty means runcri's built-in profile. */
    seccomp_profile: string;
    /**
     * Whether a container whose request names no seccomp profile at all gets `RuntimeDefault`
     * (true, cri-o's choice) or runs unconfined (false: kubelet's meaning of an unset profile,
     * containerd's behaviour and what the CRI validation suite expects).
     */
    seccomp_use_default_when_empty: boolean;
    /** `auto` clamps oom_score_adj to the daemon's own when the kernel refuses lowering it. */
    restrict_oom_score_adj: 'auto' | 'true' | 'false';
    pids_limit: number;
    /** The image whose process is PID 1 of a pod that shares one PID namespace; empty: built-in. */
    infra_image: string;
    /**
     * The helper that makes ID-mapped mounts for user-namespaced pods (`native/idmap-mount.c`,
     * built by `make`); empty: `native/idmap-mount` of this installation.
     */
    idmap_mount_helper: string;
    /** Directories of CDI spec files, later ones overriding earlier ones (`/etc/cdi`, `/var/run/cdi`, as the peers). */
    cdi_spec_dirs: string[];
  };
  runtimes: Record<string, RuntimeHandlerConfig>;
  network: {
    conf_dir: string;
    bin_dirs: string[];
    /** CNI result cache, so DEL gets the ADD result after a restart; empty: ROOT/cni-cache. */
    cache_dir: string;
  };
  image: {
    pinned_images: string[];
    max_concurrent_downloads: number;
    /** A pull that receives no bytes for this long fails, naming the layer. */
    stall_timeout_seconds: number;
    /** A docker `config.json`-style file with an `auths` map. */
    credentials_file: string;
    /** A containers-registries.conf v2 file to read `[[registry]]` entries from (optional). */
    registries_conf: string;
    registries: RegistryEntry[];
    default_platform: string;
  };
  streaming: {
    address: string;
    port: number;
    /** Seconds a client has to open all its streams after the upgrade. */
    stream_creation_timeout_seconds: number;
    /** A streaming connection with no traffic for this long is closed (4 h, as kubelet's). */
    stream_idle_timeout_seconds: number;
    /** Serve HTTPS with this certificate and key (PEM files); empty: plain HTTP. */
    tls_cert_file: string;
    tls_key_file: string;
    /** When set, clients must present a certificate signed by this CA. */
    tls_client_ca_file: string;
  };
  metrics: {
    enabled: boolean;
    address: string;
    port: number;
    /** Groups ListPodSandboxMetrics reports (cri-o's `included_pod_metrics`): cpu, memory, network, oom, disk, process. */
    included_pod_metrics: string[];
  };
}

export function defaultConfig(): Config {
  return {
    socket: '/run/runcri/runcri.sock',
    root: '/var/lib/runcri',
    state_dir: '/run/runcri',
    log_level: 'info',
    max_message_bytes: 16 * 1024 * 1024,
    shutdown_grace_ms: 10_000,
    cgroup_driver: 'cgroupfs',
    runtime: {
      default_handler: 'runc',
      conmon_path: '/usr/bin/conmon',
      criu_path: '',
      default_capabilities: [
        'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'SETGID', 'SETUID', 'SETPCAP',
        'NET_BIND_SERVICE', 'KILL', 'NET_RAW', 'SYS_CHROOT', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP',
      ],
      seccomp_profile: '',
      seccomp_use_default_when_empty: false,
      restrict_oom_score_adj: 'auto',
      pids_limit: 0,
      infra_image: '',
      idmap_mount_helper: '',
      cdi_spec_dirs: ['/etc/cdi', '/var/run/cdi'],
    },
    runtimes: {
      runc: runtimeHandlerDefaults('/usr/sbin/runc', '/run/runcri/runc'),
    },
    network: {
      conf_dir: '/etc/cni/net.d',
      bin_dirs: ['/opt/cni/bin', '/usr/lib/cni'],
      cache_dir: '',
    },
    image: {
      pinned_images: ['registry.k8s.io/pause:3.10'],
      max_concurrent_downloads: 3,
      stall_timeout_seconds: 60,
      credentials_file: '',
      registries_conf: '',
      registries: [],
      default_platform: '',
    },
    streaming: {
      address: '127.0.0.1', port: 0, stream_creation_timeout_seconds: 30, stream_idle_timeout_seconds: 4 * 3600,
      tls_cert_file: '', tls_key_file: '', tls_client_ca_file: '',
    },
    metrics: { enabled: false, address: '127.0.0.1', port: 9090, included_pod_metrics: ['cpu', 'memory', 'network', 'oom', 'disk', 'process'] },
  };
}

/** A handler's settings with every optional one at its default. */
export function runtimeHandlerDefaults(path: string, root: string): RuntimeHandlerConfig {
  return { path, root, allowed_annotations: [], privileged_without_host_devices: false, monitor_path: '', recursive_read_only_mounts: 'auto' };
}

export { LOG_LEVELS };
