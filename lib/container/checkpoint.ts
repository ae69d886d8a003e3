import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { OciRuntime } from '../oci/index.js';
import type { Paths } from '../paths/index.js';
import type { Storage } from '../storage/index.js';
import { nanosToWire, nowNanos } from '../util/time.js';
import { ARCHIVE, writeCheckpointArchive, type CheckpointConfigDump } from './checkpoint-archive.js';
import type { ContainerRecord } from './record.js';
import { captureRootfsDiff } from './rootfs-diff.js';

export interface ContainerCheckpointerDeps {
  paths: Paths;
  storage: Pick<Storage, 'upperDirOf' | 'rootfsLayersOf' | 'layerDirs' | 'removeTree'>;
  runtimeOf: (c: ContainerRecord) => OciRuntime;
}

/** When a time in nanoseconds (as the record keeps it) was, in RFC 3339 as checkpointctl prints it. */
function rfc3339(nanos: string): string {
  return new Date(Number(BigInt(nanos) / 1_000_000n)).toISOString();
}

/**
 * Where an archive may be written: an absolute path whose directory exists (kubelet makes
 * its checkpoint directory), and that is not a directory itself.
 */
export function checkArchiveLocation(location: string): void {
  if (!location) throw new InvalidArgumentError('location is required: the path of the checkpoint archive to write');
  if (!isAbsolute(location)) throw new InvalidArgumentError(`location "${location}" must be an absolute path`);
  const dir = dirname(location);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InvalidArgumentError(`location "${location}": directory ${dir} does not exist`);
  if (existsSync(location) && statSync(location).isDirectory()) throw new InvalidArgumentError(`location "${location}" is a directory; it must name the archive file`);
}

/** checkpointctl's config.dump of a container. */
export function configDump(c: ContainerRecord, checkpointedNanos: string): CheckpointConfigDump {
  return {
    id: c.id, name: c.metadata.name, rootfsImage: c.image, rootfsImageRef: c.imageId, rootfsImageName: c.image,
    runtime: c.runtimeHandler || 'runc', createdTime: rfc3339(c.createdAt), checkpointedTime: rfc3339(checkpointedNanos), restored: false,
  };
}

/**
 * CheckpointContainer: CRIU dumps the container's processes (which go on running, as
 * kubelet's forensic checkpoints want), then what it changed in its root filesystem is
 * recorded, and everything becomes one archive at the requested location. Where the
 * runtime or CRIU cannot work on this node, it is FAILED_PRECONDITION with their reason,
 * before anything is written; a dump that fails leaves no archive and no work files.
 */
export class ContainerCheckpointer {
  constructor(private readonly deps: ContainerCheckpointerDeps) {}

  /** Checks what does not need the container's lock; the caller then runs `write` under it. */
  async precheck(c: ContainerRecord, location: string): Promise<void> {
    checkArchiveLocation(location);
    const support = await this.deps.runtimeOf(c).checkpointSupport();
    if (!support.usable) throw new FailedPreconditionError(`cannot checkpoint container ${c.id}: ${support.reason}`);
  }

  /** Writes the archive of the running container `c` to `location`. */
  async write(c: ContainerRecord, location: string, timeoutMs: number, log: Logger): Promise<void> {
    const work = this.deps.paths.checkpointWork(c.id);
    await this.deps.storage.removeTree(work);
    const started = performance.now();
    try {
      const dumpMs = await this.assemble(c, work, { leaveRunning: true, timeoutMs });
      await writeCheckpointArchive(work, location);
      log.info({ container: c.id, location, dumpMs, totalMs: Math.round(performance.now() - started) }, 'container checkpointed');
    } finally {
      await this.deps.storage.removeTree(work);
    }
  }

  /**
   * Fills `work` (made here) with what a container's archive holds: CRIU's images and logs,
   * the rootfs diff and deleted files, config, spec and status, the log. Returns how long the
   * dump itself took, in milliseconds.
   */
  async assemble(c: ContainerRecord, work: string, opts: { leaveRunning: boolean; timeoutMs: number }): Promise<number> {
    if (c.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${c.id} is not running: only a running container can be checkpointed`);
    const { storage } = this.deps;
    const runtime = this.deps.runtimeOf(c);
    await mkdir(join(work, ARCHIVE.checkpointDir), { recursive: true, mode: 0o700 });
    const started = performance.now();
    // The spec is read first: a dump that stops the container lets its runtime forget it.
    const spec = runtime.spec(c.id);
    const merged = spec?.root?.path;
    if (!merged) throw new FailedPreconditionError(`container ${c.id} has no root filesystem on record to checkpoint`);
    await runtime.checkpoint(c.id, { imagePath: join(work, ARCHIVE.checkpointDir), workPath: work, leaveRunning: opts.leaveRunning, timeoutMs: opts.timeoutMs });
    const dumpMs = Math.round(performance.now() - started);
    const deleted = await captureRootfsDiff({
      upperDir: storage.upperDirOf(c.id), merged, lowerDirs: storage.layerDirs(storage.rootfsLayersOf(c.id)), diffTar: join(work, ARCHIVE.rootfsDiff),
    });
    await writeFile(join(work, ARCHIVE.deletedFiles), JSON.stringify(deleted), { mode: 0o600 });
    await writeFile(join(work, ARCHIVE.configDump), JSON.stringify(configDump(c, nanosToWire(nowNanos()))), { mode: 0o600 });
    await writeFile(join(work, ARCHIVE.specDump), JSON.stringify(spec), { mode: 0o600 });
    await writeFile(join(work, ARCHIVE.statusDump), JSON.stringify(statusDump(c)), { mode: 0o600 });
    if (c.logPath && existsSync(c.logPath)) await copyFile(c.logPath, join(work, ARCHIVE.containerLog));
    return dumpMs;
  }
}

/** What the container was at the checkpoint, as its CRI status says it (containerd keeps one too). */
function statusDump(c: ContainerRecord): Record<string, unknown> {
  return {
    id: c.id, metadata: c.metadata, state: c.state, createdAt: c.createdAt, startedAt: c.startedAt,
    image: { image: c.image }, imageRef: c.imageRef, imageId: c.imageId, labels: c.labels, annotations: c.annotations,
    mounts: c.mounts, logPath: c.logPath,
  };
}
