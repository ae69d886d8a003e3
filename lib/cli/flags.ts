/** The command-line flags: each overrides one config key. */
export interface FlagSpec {
  flag: string;
  key: string;
  type: 'string' | 'integer' | 'boolean' | 'list';
  help: string;
}

export const CONFIG_FLAGS: readonly FlagSpec[] = [
  { flag: 'socket', key: 'socket', type: 'string', help: 'Unix socket to serve CRI on (default /run/runcri/runcri.sock)' },
  { flag: 'root', key: 'root', type: 'string', help: 'persistent data: state database, images, containers (default /var/lib/runcri)' },
  { flag: 'state-dir', key: 'state_dir', type: 'string', help: 'runtime state: namespaces, bundles, runtime roots (default /run/runcri)' },
  { flag: 'log-level', key: 'log_level', type: 'string', help: 'trace, debug, info, warn, error, fatal or silent (default info)' },
  { flag: 'cgroup-driver', key: 'cgroup_driver', type: 'string', help: 'cgroupfs or systemd (default cgroupfs)' },
  { flag: 'max-message-bytes', key: 'max_message_bytes', type: 'integer', help: 'largest gRPC message received or sent (default 16777216)' },
  { flag: 'conmon', key: 'runtime.conmon_path', type: 'string', help: 'conmon binary (default /usr/bin/conmon)' },
  { flag: 'default-runtime', key: 'runtime.default_handler', type: 'string', help: 'runtime handler for pods that name none (default runc)' },
  { flag: 'seccomp-profile', key: 'runtime.seccomp_profile', type: 'string', help: 'seccomp profile used for RuntimeDefault (default: built-in)' },
  { flag: 'pids-limit', key: 'runtime.pids_limit', type: 'integer', help: 'pids limit for every container, 0 for none (default 0)' },
  { flag: 'cni-conf-dir', key: 'network.conf_dir', type: 'string', help: 'CNI network configurations (default /etc/cni/net.d)' },
  { flag: 'cni-bin-dir', key: 'network.bin_dirs', type: 'list', help: 'CNI plugin directory; repeat for several (default /opt/cni/bin and /usr/lib/cni)' },
  { flag: 'registries-conf', key: 'image.registries_conf', type: 'string', help: 'a containers-registries.conf v2 file with [[registry]] mirrors' },
  { flag: 'credentials-file', key: 'image.credentials_file', type: 'string', help: 'registry credentials in docker config.json format' },
  { flag: 'streaming-address', key: 'streaming.address', type: 'string', help: 'address of the exec/attach/port-forward server (default 127.0.0.1)' },
  { flag: 'streaming-port', key: 'streaming.port', type: 'integer', help: 'port of the streaming server, 0 for any (default 0)' },
  { flag: 'metrics', key: 'metrics.enabled', type: 'boolean', help: 'serve Prometheus metrics (default off)' },
  { flag: 'metrics-port', key: 'metrics.port', type: 'integer', help: 'port of the metrics endpoint (default 9090)' },
];
