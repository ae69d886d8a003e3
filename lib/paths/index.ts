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
 * ROOT/containers/ID/checkpoint/     a checkpoint being taken (CRIU's images, the rootfs diff), until it is an archive
 * ROOT/containers/ID/restore/        the checkpoint archive a container is restored from, unpacked until the restore ran
 * ROOT/pod-checkpoints/POD/          a pod's checkpoint being taken, until it is an archive
 * ROOT/pod-restores/N/               a pod checkpoint archive unpacked for RestorePod, until its containers have it
 * ROOT/overlay/, ROOT/content/       layer store and image blobs (lib/storage, lib/image)
 * ROOT/overlay/image-volumes/ID.json the layers and mount points of a container's image volumes
 * STATE/ns/POD-KIND                  pinned namespaces, on a private bind mount of STATE/ns
 * STATE/pods/POD/                    hostname, resolv.conf, hosts, the /dev/shm tmpfs
 * STATE/containers/ID/               the OCI bundle: config.json, pidfile, conmon.pid, ctl, attach
 * STATE/exits/ID                     conmon's exit file
 * STATE/sockets/ID                   conmon's link to the bundle, for a short attach socket path
 * STATE/exec/                        one scratch directory per exec while it runs
 * STATE/probe/                       runtime handler probes at start
 * STATE/userns-rootfs/ID             root filesystems of user-namespaced containers
 * STATE/image-volumes/ID/N           a container's image volumes (Mount.image): read-only overlays of an image's layers
 * STATE/userns-layers/POD            a user-namespaced pod's ID-mapped view of the layer store
 * STATE/HANDLER/                     a runtime handler's state root (unless configured)
 * ```
 */
export class Paths {
  constructor(readonly root: string, readonly stateDir: string) {}

  get stateDb(): string {
    return join(this.root, 'state.db');
  }

  /** Where the containers' own directories are. */
  get containersDir(): string {
    return join(this.root, 'containers');
  }

  /** A container's own directory under `root`; conmon persists its exit and oom files here. */
  containerDir(id: string): string {
    return join(this.containersDir, id);
  }

  /** Where a container's checkpoint is assembled before it becomes an archive. */
  checkpointWork(id: string): string {
    return join(this.containerDir(id), 'checkpoint');
  }

  /** The checkpoint archive a container is restored from, unpacked. */
  restoreDir(id: string): string {
    return join(this.containerDir(id), 'restore');
  }

  get podCheckpointsRoot(): string {
    return join(this.root, 'pod-checkpoints');
  }

  /** Where a pod's checkpoint is assembled before it becomes an archive. */
  podCheckpointWork(podId: string): string {
    return join(this.podCheckpointsRoot, podId);
  }

  get podRestoresRoot(): string {
    return join(this.root, 'pod-restores');
  }

  /** Where RestorePod unpacks a pod checkpoint archive (`name` is the restore's own). */
  podRestoreWork(name: string): string {
    return join(this.podRestoresRoot, name);
  }

  get imageVolumesRoot(): string {
    return join(this.stateDir, 'image-volumes');
  }

  /** The mount points of a container's image volumes; a reboot takes the mounts along. */
  imageVolumes(id: string): string {
    return join(this.imageVolumesRoot, id);
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
