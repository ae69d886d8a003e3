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

/** One member's name as the archive gives it, without `./` or a leading `/`; undefined for names we never write. */
function memberPath(name: string): { top: string; inner?: string } | undefined {
  const clean = name.replace(/^(\.\/|\/)+/, '').replace(/\/$/, '');
  const parts = clean.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return undefined;
  if (parts.length === 1) return { top: parts[0]! };
  if (parts.length === 2) return { top: parts[0]!, inner: parts[1]! };
  return undefined;
}

/**
 * Whether an entry of an archive is one the import writes: a known top-level file, or a
 * regular file directly inside `checkpoint/`. Links, devices and deeper paths are not.
 */
export function importedMember(entry: Pick<TarEntry, 'name' | 'type'>): string | undefined {
  if (entry.type !== 'file') return undefined;
  const path = memberPath(entry.name);
  if (!path) return undefined;
  if (path.inner === undefined) return ARCHIVE_FILES.includes(path.top) ? path.top : undefined;
  return path.top === ARCHIVE.checkpointDir ? `${ARCHIVE.checkpointDir}/${path.inner}` : undefined;
}

/**
 * Writes the archive of what `workDir` holds (the members above that exist there) to
 * `location`: into a temporary file beside it first, renamed over it once complete, readable
 * by root only as it holds every memory page of the container's processes.
 */
export async function writeCheckpointArchive(workDir: string, location: string): Promise<void> {
  const temporary = join(dirname(location), `.${basename(location)}.${randomBytes(4).toString('hex')}.tmp`);
  const tar = await TarFileWriter.create(temporary, 0o600);
  try {
    const now = Math.floor(Date.now() / 1000);
    const images = join(workDir, ARCHIVE.checkpointDir);
    const imageStat = await lstat(images).catch(() => undefined);
    if (imageStat?.isDirectory()) {
      await tar.add({ name: `${ARCHIVE.checkpointDir}/`, type: 'directory', mode: 0o700, mtime: now });
      for (const name of (await readdir(images)).sort()) {
        const st = await lstat(join(images, name));
        // CRIU writes regular files only; anything else has no place in an archive we vouch for.
        if (st.isFile()) await tar.addFile({ name: `${ARCHIVE.checkpointDir}/${name}`, type: 'file', size: st.size, mode: 0o600, mtime: Math.floor(st.mtimeMs / 1000) }, join(images, name));
      }
    }
    for (const name of ARCHIVE_FILES) {
      const st = await lstat(join(workDir, name)).catch(() => undefined);
      if (st?.isFile()) await tar.addFile({ name, type: 'file', size: st.size, mode: 0o600, mtime: Math.floor(st.mtimeMs / 1000) }, join(workDir, name));
    }
    await tar.finish();
    await rename(temporary, location);
  } catch (err) {
    await tar.abandon();
    await rm(temporary, { force: true });
    throw err;
  }
}

/**
 * Unpacks the members of a checkpoint archive that a restore reads into `dest` (made here,
 * empty): the known top-level files and CRIU's images, each a new regular file created
 * without following anything. Returns the members written. Anything else is skipped; a
 * malformed archive is INVALID_ARGUMENT naming the file.
 */
export async function extractCheckpointArchive(archive: string, dest: string): Promise<Set<string>> {
  await mkdir(join(dest, ARCHIVE.checkpointDir), { recursive: true, mode: 0o700 });
  const written = new Set<string>();
  const reader = new TarReader();
  let file: { handle: FileHandle; position: number } | undefined;
  const drain = async (): Promise<boolean> => {
    for (let event = reader.read(); event !== undefined; event = reader.read()) {
      if (event.kind === 'end') return true;
      if (event.kind === 'entry') {
        if (file) await file.handle.close();
        file = undefined;
        const member = importedMember(event.entry);
        if (!member) continue;
        if (written.has(member)) throw new InvalidArgumentError(`checkpoint archive ${archive} holds ${member} twice`);
        written.add(member);
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
