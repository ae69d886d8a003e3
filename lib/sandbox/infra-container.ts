import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { containerCgroupsPath, type CgroupDriver } from '../cgroups/index.js';
import type { ImageService } from '../image/index.js';
import type { Logger } from '../log/index.js';
import { pinNamespaceOf } from '../mount/index.js';
import type { OciRuntime } from '../oci/index.js';
import type { Paths } from '../paths/index.js';
import type { Storage } from '../storage/index.js';
import { infraSpec } from './infra-spec.js';
import type { PodRecord } from './record.js';

export interface InfraContainerDeps {
  /** `runtime.infra_image`. */
  image: string;
  images: Pick<ImageService, 'resolve' | 'pull'>;
  storage: Pick<Storage, 'createContainerRootfs' | 'removeContainerRootfs'>;
  runtimeOf: (handler: string) => OciRuntime;
  paths: Paths;
  cgroupDriver: CgroupDriver;
  log: Logger;
}

/**
 * A pod's infra process run from `runtime.infra_image` (cri-o's and containerd's pause
 * container) instead of the built-in catatonit: a container of the pod's runtime handler,
 * named by the pod's ID, whose PID namespace is pinned where the pod's containers join it.
 * The image is pulled the first time a pod needs it.
 */
export class InfraContainers {
  constructor(private readonly deps: InfraContainerDeps) {}

  /** Starts the pod's infra container; resolves with its PID on the node once its PID namespace is pinned at `pidFile`. */
  async start(pod: PodRecord, pidFile: string): Promise<number> {
    const { deps } = this;
    const image = deps.images.resolve(deps.image) ?? await deps.images.pull(deps.image);
    const rootfs = await deps.storage.createContainerRootfs({ containerId: pod.id, layers: image.layers });
    const { net, ipc, uts } = pod.namespacePaths;
    const spec = infraSpec({
      podId: pod.id, rootfs: rootfs.rootfs, image: image.config,
      namespaces: { network: net, ipc, uts },
      cgroupsPath: containerCgroupsPath(deps.cgroupDriver, pod.cgroupParent, pod.id),
    });
    const runtime = deps.runtimeOf(pod.runtimeHandler);
    const pid = await runtime.create({
      id: pod.id, name: `${pod.metadata.name}-infra`, spec, logPath: join(pod.lifecycle.podDir, 'infra.log'),
      terminal: false, stdin: false, stdinOnce: false,
    });
    await pinNamespaceOf(pid, 'pid', pidFile);
    await runtime.start(pod.id);
    deps.log.debug({ pod: pod.id, image: deps.image, pid }, 'infra container started');
    return pid;
  }

  /** Removes the pod's infra container and its root filesystem; one never made is fine. */
  async remove(pod: PodRecord): Promise<void> {
    await this.deps.runtimeOf(pod.runtimeHandler).delete(pod.id);
    await this.deps.storage.removeContainerRootfs(pod.id);
    rmSync(this.deps.paths.containerDir(pod.id), { recursive: true, force: true });
  }
}
