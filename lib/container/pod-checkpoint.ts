import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { arch, release } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { CreateContainerRequest__Output } from '../generated/runtime/v1/CreateContainerRequest.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { RunPodSandboxRequest__Output } from '../generated/runtime/v1/RunPodSandboxRequest.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { OciRuntime } from '../oci/index.js';
import type { Paths } from '../paths/index.js';
import type { PodRecord } from '../sandbox/index.js';
import type { Storage } from '../storage/index.js';
import { POD_ARCHIVE, extractCheckpointArchive, importedPodMember, readArchiveJson, writePodCheckpointArchive } from './checkpoint-archive.js';
import { checkArchiveLocation, type ContainerCheckpointer } from './checkpoint.js';
import type { ContainerRecord } from './record.js';

/** checkpointctl's CheckpointedPodOptions (pod.options). */
export interface PodOptionsDump {
  version: number;
  /** Container name → its directory in the archive. */
  containers: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface PodCheckpointRequest {
  outputPath: string;
  /** Only these containers (all running ones when empty). */
  containerIds: readonly string[];
  /** The containers go on running after the dump (`options.leaveRunning`, as containerd reads it); otherwise they stop. */
  leaveRunning: boolean;
}

export interface PodRestoreRequest {
  checkpointPath: string;
  /** The pod's config; the archive's own (pod.dump) when absent. */
  config: PodSandboxConfig__Output | null;
  runtimeHandler: string;
  /** One per container of the archive, by `metadata.name`. */
  containerConfigs: readonly ContainerConfig__Output[];
}

export interface PodCheckpointsDeps {
  paths: Paths;
  storage: Pick<Storage, 'removeTree'>;
  checkpointer: ContainerCheckpointer;
  runtimeOf: (c: ContainerRecord) => OciRuntime;
  runtimeOfHandler: (handler: string) => OciRuntime;
  /** The pod's containers, each brought in line with its runtime. */
  containersOf: (podId: string) => ContainerRecord[];
  /** Runs `task` holding every one of these containers' locks. */
  withLocks: <T>(ids: readonly string[], task: () => Promise<T>) => Promise<T>;
  pods: {
    run(req: RunPodSandboxRequest__Output, log: Logger): Promise<string>;
    stop(id: string, log: Logger): Promise<void>;
    remove(id: string, log: Logger): Promise<void>;
  };
  /** CreateContainer taking CRIU's images from an archive unpacked already. */
  createRestored: (req: CreateContainerRequest__Output, unpacked: string, log: Logger) => Promise<string>;
  start: (id: string, log: Logger) => Promise<void>;
}

/** The directory of a container in a pod archive, as containerd and cri-o name it. */
export function containerDirName(c: Pick<ContainerRecord, 'id' | 'metadata'>): string {
  return `${c.id}-${c.metadata.name}`;
}

/** What pod.options says of the pod and the node, in checkpointctl's annotation names. */
function podAnnotations(pod: PodRecord): Record<string, string> {
  return {
    'org.criu.checkpoint.engine.name': 'runcri',
    'org.criu.checkpoint.pod.name': pod.metadata.name,
    'org.criu.checkpoint.pod.id': pod.id,
    'org.criu.checkpoint.pod.namespace': pod.metadata.namespace,
    'org.criu.checkpoint.host.arch': arch(),
    'org.criu.checkpoint.host.kernel': release(),
  };
}

/**
 * CheckpointPod and RestorePod: a pod's running containers frozen together and dumped one by
 * one into one archive (the pod layout checkpointctl reads), and a new pod made from such an
 * archive, each container restored in it. Where the pod's runtime cannot checkpoint, both are
 * FAILED_PRECONDITION with its reason before anything is made.
 */
export class PodCheckpoints {
  constructor(private readonly deps: PodCheckpointsDeps) {}

  async checkpoint(pod: PodRecord, req: PodCheckpointRequest, log: Logger): Promise<void> {
    checkArchiveLocation(req.outputPath);
    const all = this.deps.containersOf(pod.id);
    for (const id of req.containerIds) {
      if (!all.some((c) => c.id === id)) throw new NotFoundError(`container ${id} is not in pod ${pod.id}`);
    }
    const chosen = req.containerIds.length > 0 ? all.filter((c) => req.containerIds.includes(c.id)) : all;
    const targets = chosen.filter((c) => c.state === 'CONTAINER_RUNNING');
    if (targets.length === 0) throw new FailedPreconditionError(`pod ${pod.id} has no running container to checkpoint`);
    const support = await this.deps.runtimeOf(targets[0]!).checkpointSupport();
    if (!support.usable) throw new FailedPreconditionError(`cannot checkpoint pod ${pod.id}: ${support.reason}`);
    const work = this.deps.paths.podCheckpointWork(pod.id);
    await this.deps.storage.removeTree(work);
    await mkdir(work, { recursive: true, mode: 0o700 });
    try {
      await this.deps.withLocks(targets.map((c) => c.id), () => this.dumpAll(pod, targets, work, req, log));
    } finally {
      await this.deps.storage.removeTree(work);
    }
  }

  /** Freezes every target first, so the dumps are of one moment; thaws them after when they go on running, or when the dump failed. */
  private async dumpAll(pod: PodRecord, targets: ContainerRecord[], work: string, req: PodCheckpointRequest, log: Logger): Promise<void> {
    const paused: ContainerRecord[] = [];
    let failed = true;
    try {
      for (const c of targets) {
        if (c.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${c.id} stopped while its pod was checkpointed`);
        await this.deps.runtimeOf(c).pause(c.id);
        paused.push(c);
      }
      const containers: Record<string, string> = {};
      for (const c of targets) {
        const dir = containerDirName(c);
        await this.deps.checkpointer.assemble(c, join(work, dir), { leaveRunning: req.leaveRunning, timeoutMs: 0 });
        containers[c.metadata.name] = dir;
      }
      const options: PodOptionsDump = { version: 1, containers, annotations: podAnnotations(pod) };
      await writeFile(join(work, POD_ARCHIVE.options), JSON.stringify(options), { mode: 0o600 });
      await writeFile(join(work, POD_ARCHIVE.dump), JSON.stringify(pod.config), { mode: 0o600 });
      await writePodCheckpointArchive(work, req.outputPath, Object.values(containers));
      failed = false;
      log.info({ pod: pod.id, containers: targets.length, location: req.outputPath }, 'pod checkpointed');
    } finally {
      if (req.leaveRunning || failed) {
        for (const c of paused) {
          await this.deps.runtimeOf(c).resume(c.id).catch((err: unknown) => log.warn({ container: c.id, err: messageOf(err) }, 'resuming a container after a pod checkpoint failed'));
        }
      }
    }
  }

  /** Makes a pod from the archive and restores its containers; a failure takes the new pod away again. */
  async restore(req: PodRestoreRequest, log: Logger): Promise<{ podId: string; containers: { name: string; containerId: string }[] }> {
    const archive = req.checkpointPath;
    if (!archive || !isAbsolute(archive) || !existsSync(archive) || !statSync(archive).isFile()) {
      throw new InvalidArgumentError(`checkpoint_path "${archive}" must be the absolute path of a pod checkpoint archive on the node`);
    }
    const support = await this.deps.runtimeOfHandler(req.runtimeHandler).checkpointSupport();
    if (!support.usable) throw new FailedPreconditionError(`cannot restore a pod from checkpoint ${archive}: ${support.reason}`);
    const work = this.deps.paths.podRestoreWork(randomBytes(8).toString('hex'));
    try {
      await extractCheckpointArchive(archive, work, importedPodMember);
      const options = await readArchiveJson<Partial<PodOptionsDump>>(work, POD_ARCHIVE.options, archive);
      const entries = Object.entries(options.containers ?? {});
      if (entries.length === 0 || entries.some(([name, dir]) => !name || typeof dir !== 'string' || !existsSync(join(work, dir)))) {
        throw new InvalidArgumentError(`checkpoint archive ${archive}: ${POD_ARCHIVE.options} names no containers the archive holds`);
      }
      const configs = entries.map(([name]) => {
        const config = req.containerConfigs.find((c) => c.metadata?.name === name);
        if (!config) throw new InvalidArgumentError(`container_configs has no config for container "${name}" of the checkpoint`);
        return config;
      });
      const podConfig = req.config ?? (await readArchiveJson<PodSandboxConfig__Output>(work, POD_ARCHIVE.dump, archive));
      const podId = await this.deps.pods.run({ config: podConfig, runtime_handler: req.runtimeHandler }, log);
      try {
        const restored: { name: string; containerId: string }[] = [];
        for (const [i, [name, dir]] of entries.entries()) {
          const config = { ...configs[i]!, image: { ...configs[i]!.image!, image: archive } } as ContainerConfig__Output;
          const id = await this.deps.createRestored({ pod_sandbox_id: podId, config, sandbox_config: podConfig }, join(work, dir), log);
          await this.deps.start(id, log);
          restored.push({ name, containerId: id });
        }
        log.info({ pod: podId, containers: restored.length, archive }, 'pod restored');
        return { podId, containers: restored };
      } catch (err) {
        await this.deps.pods.stop(podId, log).then(() => this.deps.pods.remove(podId, log)).catch((undo: unknown) => log.warn({ pod: podId, err: messageOf(undo) }, 'removing a pod whose restore failed failed'));
        throw err;
      }
    } finally {
      await this.deps.storage.removeTree(work);
    }
  }
}
