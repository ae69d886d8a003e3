import { join } from 'node:path';

/** The namespace kinds a pod pins files for. */
export type PinnedKind = 'net' | 'ipc' | 'uts' | 'pid' | 'user';

/**
 * Where runcri keeps things on disk: `root` survives reboots (records, images, what a
 * container owns), `state_dir` is for what a reboot ends anyway (bundles, pinned namespaces,
 * conmon's exit files and sockets). Every path below those two is named here and nowhere else.
 *
 * ```
 * ROOT/state.db                      pod, container and image records
 * ROOT/handler-probes.json           what each runtime handler's probe found, keyed by its binary
 * ROOT/containers/ID/                a container's own: conmon's persisted exit and oom files, image volumes, default log
 * ROOT/overlay/, ROOT/content/       layer store and image blobs (lib/storage, lib/image)
 * STATE/ns/POD-KIND                  pinned namespaces, on a private bind mount of STATE/ns
 * STATE/pods/POD/                    hostname, resolv.conf, hosts, the /dev/shm tmpfs
 * STATE/containers/ID/               the OCI bundle: config.json, pidfile, conmon.pid, ctl, attach
 * STATE/exits/ID                     conmon's exit file
 * STATE/sockets/ID                   conmon's link to the bundle, for a short attach socket path
 * STATE/exec/                        one scratch directory per exec while it runs
 * STATE/probe/                       runtime handler probes at start
 * STATE/userns-rootfs/ID             root filesystems of user-namespaced containers
 * STATE/userns-layers/POD            a user-namespaced pod's ID-mapped view of the layer store
 * STATE/HANDLER/                     a runtime handler's state root (unless configured)
 * ```
 */
export class Paths {
  constructor(readonly root: string, readonly stateDir: string) {}

  get stateDb(): string {
    return join(this.root, 'state.db');
  }

  /** A container's own directory under `root`; conmon persists its exit and oom files here. */
  containerDir(id: string): string {
    return join(this.root, 'containers', id);
  }

  /** The directory of pinned namespace files; it is a private mount so nsfs files can be bound there. */
  get nsDir(): string {
    return join(this.stateDir, 'ns');
  }

  namespaceFile(podId: string, kind: PinnedKind): string {
    return join(this.nsDir, `${podId}-${kind}`);
  }

  get podsDir(): string {
    return join(this.stateDir, 'pods');
  }

  podDir(id: string): string {
    return join(this.podsDir, id);
  }

  bundle(id: string): string {
    return join(this.stateDir, 'containers', id);
  }

  get exitDir(): string {
    return join(this.stateDir, 'exits');
  }

  get socketDir(): string {
    return join(this.stateDir, 'sockets');
  }

  get execDir(): string {
    return join(this.stateDir, 'exec');
  }

  get probeCacheFile(): string {
    return join(this.root, 'handler-probes.json');
  }

  get probeDir(): string {
    return join(this.stateDir, 'probe');
  }

  get usernsRootfsDir(): string {
    return join(this.stateDir, 'userns-rootfs');
  }

  usernsLayerView(podId: string): string {
    return join(this.stateDir, 'userns-layers', podId);
  }

  /** A handler's state root when its config names none. */
  runtimeRoot(handler: string): string {
    return join(this.stateDir, handler);
  }
}
