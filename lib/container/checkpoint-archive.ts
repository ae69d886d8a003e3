import { randomBytes } from 'node:crypto';
import { createReadStream, constants as fsConstants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InvalidArgumentError, isRuntimeError, messageOf } from '../errors/index.js';
import { TarFileWriter, TarReader, type TarEntry } from '../storage/index.js';

/**
 * The container checkpoint archive kubelet's ContainerCheckpoint feature asks for, laid out
 * as cri-o and containerd lay theirs out (checkpointctl reads all of them): an uncompressed
 * tar whose top level holds these members.
 */
export const ARCHIVE = {
  /** CRIU's image files (flat), and runc's descriptors.json beside them. */
  checkpointDir: 'checkpoint',
  /** Who the container was: checkpointctl's ContainerConfig as JSON. */
  configDump: 'config.dump',
  /** The OCI spec the container ran with, annotations carrying its CRI metadata. */
  specDump: 'spec.dump',
  /** Its CRI ContainerStatus at the checkpoint (containerd writes one too). */
  statusDump: 'status.dump',
  /** What the container changed in its root filesystem: added and modified entries. */
  rootfsDiff: 'rootfs-diff.tar',
  /** What it deleted there: a JSON array of absolute paths. */
  deletedFiles: 'deleted.files',
  /** Its log up to the checkpoint (containerd's name for it). */
  containerLog: 'container.log',
  /** cri-o's name for the same log. */
  crioLog: 'io.kubernetes.cri-o.LogPath',
  /** CRIU's log and statistics of the dump. */
  dumpLog: 'dump.log',
  statsDump: 'stats-dump',
} as const;

/** Top-level files an archive may hold; anything else in one (podman's extras) is skipped on import. */
const ARCHIVE_FILES: readonly string[] = [
  ARCHIVE.configDump, ARCHIVE.specDump, ARCHIVE.statusDump, ARCHIVE.rootfsDiff, ARCHIVE.deletedFiles,
  ARCHIVE.containerLog, ARCHIVE.crioLog, ARCHIVE.dumpLog, ARCHIVE.statsDump,
];

/** checkpointctl's ContainerConfig (config.dump), field names as it spells them. */
export interface CheckpointConfigDump {
  id: string;
  name: string;
  rootfsImage?: string;
  rootfsImageRef?: string;
  rootfsImageName?: string;
  runtime?: string;
  createdTime: string;
  checkpointedTime: string;
  restoredTime?: string;
  restored: boolean;
}

/**
 * A pod's checkpoint archive (checkpointctl's pod layout, as containerd writes it): these
 * two files at the top, and one directory per container (`<id>-<name>`) holding what a
 * container's archive holds.
 */
export const POD_ARCHIVE = {
  /** checkpointctl's CheckpointedPodOptions: version, container name → its directory, annotations. */
  options: 'pod.options',
  /** The pod's PodSandboxConfig as JSON. */
  dump: 'pod.dump',
} as const;

/** What a container's directory in a pod archive may be called. */
const CONTAINER_DIR = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** A member's path components, without `./` or a leading `/`; undefined for names we never write. */
function memberParts(name: string): string[] | undefined {
  const clean = name.replace(/^(\.\/|\/)+/, '').replace(/\/$/, '');
  const parts = clean.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return parts;
}

/** A container archive's member: a known top-level file, or a file directly inside `checkpoint/`. */
function containerMember(parts: readonly string[]): string | undefined {
  if (parts.length === 1) return ARCHIVE_FILES.includes(parts[0]!) ? parts[0] : undefined;
  if (parts.length === 2 && parts[0] === ARCHIVE.checkpointDir) return parts.join('/');
  return undefined;
}

/**
 * Whether an entry of a container's archive is one the import writes: a known top-level
 * file, or a regular file directly inside `checkpoint/`. Links, devices and deeper paths are not.
 */
export function importedMember(entry: Pick<TarEntry, 'name' | 'type'>): string | undefined {
  if (entry.type !== 'file') return undefined;
  const parts = memberParts(entry.name);
  return parts ? containerMember(parts) : undefined;
}

/** The same for a pod's archive: its two files, and the container members in each container's directory. */
export function importedPodMember(entry: Pick<TarEntry, 'name' | 'type'>): string | undefined {
  if (entry.type !== 'file') return undefined;
  const parts = memberParts(entry.name);
  if (!parts) return undefined;
  if (parts.length === 1) return parts[0] === POD_ARCHIVE.options || parts[0] === POD_ARCHIVE.dump ? parts[0] : undefined;
  const [dir, ...rest] = parts;
  if (!CONTAINER_DIR.test(dir!) || dir === ARCHIVE.checkpointDir) return undefined;
  const inner = containerMember(rest);
  return inner ? `${dir}/${inner}` : undefined;
}

/** Adds the container archive members `workDir` holds, each name prefixed with `prefix`. */
async function addContainerMembers(tar: TarFileWriter, workDir: string, prefix: string): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const images = join(workDir, ARCHIVE.checkpointDir);
  const imageStat = await lstat(images).catch(() => undefined);
  if (imageStat?.isDirectory()) {
    await tar.add({ name: `${prefix}${ARCHIVE.checkpointDir}/`, type: 'directory', mode: 0o700, mtime: now });
    for (const name of (await readdir(images)).sort()) {
      const st = await lstat(join(images, name));
      // CRIU writes regular files only; anything else has no place in an archive we vouch for.
      if (st.isFile()) await tar.addFile({ name: `${prefix}${ARCHIVE.checkpointDir}/${name}`, type: 'file', size: st.size, mode: 0o600, mtime: Math.floor(st.mtimeMs / 1000) }, join(images, name));
    }
  }
  for (const name of ARCHIVE_FILES) {
    const st = await lstat(join(workDir, name)).catch(() => undefined);
    if (st?.isFile()) await tar.addFile({ name: `${prefix}${name}`, type: 'file', size: st.size, mode: 0o600, mtime: Math.floor(st.mtimeMs / 1000) }, join(workDir, name));
  }
}

/**
 * Writes an archive to `location`: into a temporary file beside it first, renamed over it
 * once complete, readable by root only as it holds every memory page of the processes.
 */
async function writeArchive(location: string, fill: (tar: TarFileWriter) => Promise<void>): Promise<void> {
  const temporary = join(dirname(location), `.${basename(location)}.${randomBytes(4).toString('hex')}.tmp`);
  const tar = await TarFileWriter.create(temporary, 0o600);
  try {
    await fill(tar);
    await tar.finish();
    await rename(temporary, location);
  } catch (err) {
    await tar.abandon();
    await rm(temporary, { force: true });
    throw err;
  }
}

/** Writes the archive of the container checkpoint in `workDir` (the members above that exist there) to `location`. */
export function writeCheckpointArchive(workDir: string, location: string): Promise<void> {
  return writeArchive(location, (tar) => addContainerMembers(tar, workDir, ''));
}

/** Writes a pod's archive: its two files in `workDir` and each container's checkpoint in `workDir/<dir>`. */
export function writePodCheckpointArchive(workDir: string, location: string, containerDirs: readonly string[]): Promise<void> {
  return writeArchive(location, async (tar) => {
    for (const name of [POD_ARCHIVE.options, POD_ARCHIVE.dump]) {
      const st = await lstat(join(workDir, name));
      await tar.addFile({ name, type: 'file', size: st.size, mode: 0o600, mtime: Math.floor(st.mtimeMs / 1000) }, join(workDir, name));
    }
    for (const dir of containerDirs) {
      await tar.add({ name: `${dir}/`, type: 'directory', mode: 0o700, mtime: Math.floor(Date.now() / 1000) });
      await addContainerMembers(tar, join(workDir, dir), `${dir}/`);
    }
  });
}

/**
 * Unpacks the members of a checkpoint archive that a restore reads into `dest` (made here,
 * empty): those `memberOf` admits, each a new regular file created without following
 * anything. Returns the members written. Anything else is skipped; a malformed archive is
 * INVALID_ARGUMENT naming the file.
 */
export async function extractCheckpointArchive(archive: string, dest: string, memberOf = importedMember): Promise<Set<string>> {
  await mkdir(dest, { recursive: true, mode: 0o700 });
  const written = new Set<string>();
  const reader = new TarReader();
  let file: { handle: FileHandle; position: number } | undefined;
  const drain = async (): Promise<boolean> => {
    for (let event = reader.read(); event !== undefined; event = reader.read()) {
      if (event.kind === 'end') return true;
      if (event.kind === 'entry') {
        if (file) await file.handle.close();
        file = undefined;
        const member = memberOf(event.entry);
        if (!member) continue;
        if (written.has(member)) throw new InvalidArgumentError(`checkpoint archive ${archive} holds ${member} twice`);
        written.add(member);
        // Every directory below `dest` is made here, from names checked to be plain components.
        await mkdir(dirname(join(dest, member)), { recursive: true, mode: 0o700 });
        const handle = await open(join(dest, member), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
        if (event.entry.size > 0) file = { handle, position: 0 };
        else await handle.close();
      } else if (file) {
        const { chunk } = event;
        let done = 0;
        while (done < chunk.length) done += (await file.handle.write(chunk, done, chunk.length - done, file.position + done)).bytesWritten;
        file.position += chunk.length;
      }
    }
    return false;
  };
  try {
    let ended = false;
    for await (const chunk of createReadStream(archive, { highWaterMark: 1 << 20 })) {
      reader.write(chunk as Buffer);
      if (await drain()) {
        ended = true;
        break;
      }
    }
    if (!ended) {
      reader.close();
      await drain();
    }
  } catch (err) {
    if (isRuntimeError(err) && err.kind !== 'failed_precondition') throw err;
    throw new InvalidArgumentError(`checkpoint archive ${archive} cannot be read: ${messageOf(err)}`, { cause: err });
  } finally {
    if (file) await file.handle.close();
  }
  return written;
}

/** A JSON member of an unpacked archive; a missing or malformed one is INVALID_ARGUMENT. */
export async function readArchiveJson<T>(dir: string, member: string, archive: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(join(dir, member), 'utf8');
  } catch {
    throw new InvalidArgumentError(`checkpoint archive ${archive} has no ${member}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new InvalidArgumentError(`checkpoint archive ${archive}: ${member} is not valid JSON: ${messageOf(err)}`);
  }
}

/** deleted.files as relative paths (cri-o writes them absolute); anything that is not a list of paths is INVALID_ARGUMENT. */
export function parseDeletedFiles(value: unknown, archive: string): string[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new InvalidArgumentError(`checkpoint archive ${archive}: ${ARCHIVE.deletedFiles} is not a list of paths`);
  }
  return (value as string[]).map((p) => p.replace(/^\/+/, '')).filter((p) => p !== '');
}
