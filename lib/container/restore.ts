import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';
import type { ContainerCreateRequest, OciProcess, OciSpec } from '../oci/index.js';
import { ARCHIVE, extractCheckpointArchive, parseDeletedFiles, readArchiveJson, type CheckpointConfigDump } from './checkpoint-archive.js';

/** A checkpoint archive unpacked for the container restored from it. */
export interface RestorePlan {
  /** CRIU's images, for `runc restore`. */
  imagePath: string;
  /** The image the checkpointed container ran on: the restored one's root filesystem starts from it. */
  baseImage: string;
  /** The spec the checkpointed container ran with. */
  spec: OciSpec;
  /** What the container had changed in its root filesystem. */
  diffTar: string | undefined;
  deleted: string[];
}

/**
 * The checkpoint archive a CreateContainer names as its image, if it does: an absolute path
 * to a file on the node (no image reference starts with `/`), as cri-o takes it.
 */
export function checkpointArchiveOf(image: string): string | undefined {
  if (!isAbsolute(image)) return undefined;
  if (!existsSync(image) || !statSync(image).isFile()) throw new InvalidArgumentError(`image "${image}" is neither an image reference nor a checkpoint archive on the node`);
  return image;
}

/** The members of a container checkpoint unpacked in `dir`: its regular files, and those in `checkpoint/`. */
async function membersIn(dir: string): Promise<Set<string>> {
  const members = new Set<string>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile()) members.add(entry.name);
    if (entry.isDirectory() && entry.name === ARCHIVE.checkpointDir) {
      for (const image of await readdir(join(dir, entry.name), { withFileTypes: true })) if (image.isFile()) members.add(`${entry.name}/${image.name}`);
    }
  }
  return members;
}

/**
 * Unpacks what a restore needs into `dir` and checks it is a container checkpoint; anything
 * missing or malformed is INVALID_ARGUMENT. `unpacked`: a container's directory of a pod
 * archive unpacked already (by RestorePod, on the same filesystem), moved to `dir` instead.
 */
export async function unpackCheckpoint(archive: string, dir: string, unpacked?: string): Promise<RestorePlan> {
  let members: Set<string>;
  if (unpacked) {
    await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
    await rename(unpacked, dir);
    members = await membersIn(dir);
  } else {
    members = await extractCheckpointArchive(archive, dir);
  }
  if (![...members].some((m) => m.startsWith(`${ARCHIVE.checkpointDir}/`))) {
    throw new InvalidArgumentError(`checkpoint archive ${archive} holds no CRIU images (${ARCHIVE.checkpointDir}/)`);
  }
  const config = await readArchiveJson<Partial<CheckpointConfigDump>>(dir, ARCHIVE.configDump, archive);
  const baseImage = config.rootfsImageName || config.rootfsImageRef || config.rootfsImage;
  if (typeof baseImage !== 'string' || !baseImage) throw new InvalidArgumentError(`checkpoint archive ${archive}: ${ARCHIVE.configDump} names no image`);
  const spec = await readArchiveJson<OciSpec>(dir, ARCHIVE.specDump, archive);
  if (!spec?.process || !Array.isArray(spec.process.args) || spec.process.args.length === 0) {
    throw new InvalidArgumentError(`checkpoint archive ${archive}: ${ARCHIVE.specDump} has no process`);
  }
  const deleted = members.has(ARCHIVE.deletedFiles) ? parseDeletedFiles(await readArchiveJson<unknown>(dir, ARCHIVE.deletedFiles, archive), archive) : [];
  return {
    imagePath: join(dir, ARCHIVE.checkpointDir), baseImage, spec, deleted,
    diffTar: members.has(ARCHIVE.rootfsDiff) ? join(dir, ARCHIVE.rootfsDiff) : undefined,
  };
}

/**
 * The restored container's process: the checkpointed one's command, environment, directory
 * and user (CRIU brings back exactly that process), with the new spec's terminal setting.
 */
export function restoredProcess(fresh: OciProcess, dumped: OciProcess): OciProcess {
  return { ...fresh, args: dumped.args, env: dumped.env ?? fresh.env, cwd: dumped.cwd || fresh.cwd, user: dumped.user ?? fresh.user };
}

const CREATE_REQUEST = 'create-request.json';

/** A restore runs at StartContainer: the create's request to the runtime waits beside the images. */
export async function savePendingRestore(dir: string, req: ContainerCreateRequest): Promise<void> {
  await writeFile(join(dir, CREATE_REQUEST), JSON.stringify(req), { mode: 0o600 });
}

export async function loadPendingRestore(dir: string): Promise<ContainerCreateRequest> {
  return JSON.parse(await readFile(join(dir, CREATE_REQUEST), 'utf8')) as ContainerCreateRequest;
}
