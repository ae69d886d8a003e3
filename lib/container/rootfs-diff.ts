import { createReadStream, lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { chown, chmod, lstat, mkdir, readdir, readlink, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, messageOf } from '../errors/index.js';
import { CommandFailedError, runCommand } from '../process/index.js';
import { SpecialFiles, TarFileWriter, cleanEntryPath, unpackLayer, type TarHeaderFields } from '../storage/index.js';

/** An entry of a container's overlay upper directory, as the diff cares about it. */
export interface UpperNode {
  /** Path relative to the upper directory (and to the container's root). */
  rel: string;
  kind: 'directory' | 'whiteout' | 'other';
  /** A directory that hides everything below it in the image (`trusted.overlay.opaque`). */
  opaque?: boolean;
  /** A directory renamed from elsewhere in the image (`trusted.overlay.redirect`): its content is not all in the upper layer. */
  redirect?: boolean;
}

export interface RootfsDiffPlan {
  /** Paths to archive from the container's root, parents before children. */
  members: string[];
  /** Directories archived whole from the container's root (renamed image directories). */
  subtrees: string[];
  /** Paths the container deleted from its image, absolute as in deleted.files. */
  deleted: string[];
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

/**
 * What a container changed, from its upper layer (walked parents first): whiteouts are
 * deletions, everything else is archived. An opaque directory restores as a plain one, so
 * whatever the image had in it that the upper layer lacks is listed as deleted too.
 */
export function planRootfsDiff(nodes: readonly UpperNode[], lowerNames: (relDir: string) => readonly string[]): RootfsDiffPlan {
  const plan: RootfsDiffPlan = { members: [], subtrees: [], deleted: [] };
  const children = new Map<string, Set<string>>();
  for (const n of nodes) {
    const parent = parentOf(n.rel);
    const set = children.get(parent) ?? new Set<string>();
    set.add(n.rel.slice(parent ? parent.length + 1 : 0));
    children.set(parent, set);
  }
  const inSubtree = (rel: string) => plan.subtrees.some((s) => rel.startsWith(`${s}/`));
  for (const n of nodes) {
    if (inSubtree(n.rel)) continue;
    if (n.kind === 'whiteout') {
      plan.deleted.push(`/${n.rel}`);
      continue;
    }
    plan.members.push(n.rel);
    if (n.kind !== 'directory') continue;
    if (n.redirect) {
      plan.subtrees.push(n.rel);
      continue;
    }
    if (n.opaque) {
      const kept = children.get(n.rel) ?? new Set<string>();
      for (const name of [...new Set(lowerNames(n.rel))].sort()) if (!kept.has(name)) plan.deleted.push(`/${n.rel}/${name}`);
    }
  }
  return plan;
}

/** getfattr's quoting of file names: `\NNN` octal escapes and `\\`. */
function unescapeGetfattr(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (text[i] === '\\' && text[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 1;
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Parses `getfattr -d -e base64 --absolute-names` output into attributes per path relative
 * to `root`. Values are bytes (file capabilities are binary).
 */
export function parseGetfattrDump(output: string, root: string): Map<string, Map<string, Buffer>> {
  const result = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  const prefix = root.endsWith('/') ? root : `${root}/`;
  for (const line of output.split('\n')) {
    if (line.startsWith('# file: ')) {
      const path = unescapeGetfattr(line.slice('# file: '.length));
      const rel = path === root ? '' : path.startsWith(prefix) ? path.slice(prefix.length) : undefined;
      current = rel === undefined ? undefined : new Map();
      if (rel !== undefined && current) result.set(rel, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) continue;
    const raw = line.slice(eq + 1);
    const value = raw.startsWith('0s') ? Buffer.from(raw.slice(2), 'base64')
      : raw.startsWith('0x') ? Buffer.from(raw.slice(2), 'hex')
        : Buffer.from(raw.replace(/^"|"$/g, ''), 'utf8');
    current.set(line.slice(0, eq), value);
  }
  return result;
}

const XATTR_TIMEOUT_MS = 120_000;
const OVERLAY_XATTR = /^trusted\.overlay\./;

/** Every extended attribute in the tree at `root` (one getfattr for the whole tree). */
async function readXattrs(root: string): Promise<Map<string, Map<string, Buffer>>> {
  const args = ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', root];
  try {
    return parseGetfattrDump((await runCommand('getfattr', args, { timeoutMs: XATTR_TIMEOUT_MS })).stdout, root);
  } catch (err) {
    // getfattr reports what it read even when a file vanished under it.
    if (err instanceof CommandFailedError) return parseGetfattrDump(err.stdout, root);
    throw err;
  }
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** The upper layer's entries, parents before children, with what overlay's attributes say of them. */
async function walkUpper(upperDir: string, xattrs: Map<string, Map<string, Buffer>>): Promise<UpperNode[]> {
  const nodes: UpperNode[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(upperDir, rel))).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(upperDir, child));
      if (isWhiteout(st)) {
        nodes.push({ rel: child, kind: 'whiteout' });
      } else if (st.isDirectory()) {
        const attrs = xattrs.get(child);
        nodes.push({ rel: child, kind: 'directory', opaque: attrs?.get('trusted.overlay.opaque')?.toString() === 'y', redirect: attrs?.has('trusted.overlay.redirect') ?? false });
        await visit(child);
      } else {
        nodes.push({ rel: child, kind: 'other' });
      }
    }
  };
  await visit('');
  return nodes;
}

/** `relDir` in one image layer, reached through real directories only (image content may hold symlinks that lead anywhere). */
function layerDir(lower: string, relDir: string): Stats | undefined {
  let dir = lower;
  // The layer's own directory may be reached through the store's short link.
  let st = statSafe(dir);
  for (const part of relDir.split('/').filter((p) => p !== '')) {
    if (!st?.isDirectory()) return undefined;
    dir = join(dir, part);
    st = lstatSafe(dir);
  }
  return st?.isDirectory() ? st : undefined;
}

/** Names the image's layers hold in `relDir`. */
export function lowerNamesIn(lowerDirs: readonly string[], relDir: string): string[] {
  const names = new Set<string>();
  for (const lower of lowerDirs) {
    if (layerDir(lower, relDir)) for (const name of readdirSync(join(lower, relDir))) names.add(name);
  }
  return [...names];
}

/** Device numbers as Linux packs them into st_rdev. */
function deviceNumbers(rdev: number): { devmajor: number; devminor: number } {
  const big = BigInt(rdev);
  return {
    devmajor: Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn)),
    devminor: Number((big & 0xffn) | ((big >> 12n) & ~0xffn)),
  };
}

/**
 * Writes rootfs-diff.tar of a container: the entries `plan` names, read from its mounted
 * root (`merged`, which holds their whole content), with the upper layer's extended
 * attributes; hard links within the diff stay links.
 */
async function writeDiffTar(merged: string, plan: RootfsDiffPlan, xattrs: Map<string, Map<string, Buffer>>, out: string): Promise<void> {
  const tar = await TarFileWriter.create(out, 0o600);
  const seen = new Map<string, string>();
  const add = async (rel: string): Promise<void> => {
    const path = join(merged, rel);
    const st = await lstat(path);
    const attrs = new Map([...(xattrs.get(rel) ?? new Map<string, Buffer>())].filter(([k]) => !OVERLAY_XATTR.test(k)));
    const base: Omit<TarHeaderFields, 'type'> = { name: rel, mode: st.mode, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), ...(attrs.size > 0 ? { xattrs: attrs } : {}) };
    if (st.isDirectory()) return tar.add({ ...base, name: `${rel}/`, type: 'directory' });
    if (st.isSymbolicLink()) return tar.add({ ...base, type: 'symlink', linkname: await readlink(path) });
    if (st.isCharacterDevice() || st.isBlockDevice()) return tar.add({ ...base, type: st.isCharacterDevice() ? 'character-device' : 'block-device', ...deviceNumbers(st.rdev) });
    if (st.isFIFO()) return tar.add({ ...base, type: 'fifo' });
    if (!st.isFile()) return undefined;
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? seen.get(key) : undefined;
    if (first !== undefined) return tar.add({ ...base, type: 'link', linkname: first });
    if (st.nlink > 1) seen.set(key, rel);
    return tar.addFile({ ...base, type: 'file', size: st.size }, path);
  };
  const addTree = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(merged, rel))).sort()) {
      const child = `${rel}/${name}`;
      await add(child);
      if ((await lstat(join(merged, child))).isDirectory()) await addTree(child);
    }
  };
  try {
    for (const rel of plan.members) {
      await add(rel);
      if (plan.subtrees.includes(rel)) await addTree(rel);
    }
    await tar.finish();
  } catch (err) {
    await tar.abandon();
    throw err;
  }
}

/**
 * Records what a (paused) container changed in its root filesystem: `rootfs-diff.tar` and
 * the list of deleted paths. `upperDir` says what changed, `merged` (its mounted root) holds
 * the content, `lowerDirs` are the image's layers (for what an opaque directory hides).
 */
export async function captureRootfsDiff(opts: { upperDir: string; merged: string; lowerDirs: readonly string[]; diffTar: string }): Promise<string[]> {
  const xattrs = await readXattrs(opts.upperDir);
  const nodes = await walkUpper(opts.upperDir, xattrs);
  const plan = planRootfsDiff(nodes, (rel) => lowerNamesIn(opts.lowerDirs, rel));
  await writeDiffTar(opts.merged, plan, xattrs, opts.diffTar);
  return plan.deleted;
}

/**
 * Makes a fresh (empty, unmounted) upper layer hold a checkpoint's changes: the diff's
 * entries unpacked as a layer is (nothing in it can lead outside), then a whiteout for each
 * deleted path the image has. Missing parents of a whiteout are made with the image's own
 * owner and mode, as overlay's copy-up would have made them.
 */
export async function applyRootfsDiff(opts: { upperDir: string; diffTar: string | undefined; deleted: readonly string[]; lowerDirs: readonly string[] }): Promise<void> {
  if (opts.diffTar) await unpackLayer(createReadStream(opts.diffTar), opts.upperDir);
  const special = new SpecialFiles();
  for (const path of opts.deleted) {
    let rel: string;
    try {
      rel = cleanEntryPath(path);
    } catch (err) {
      throw new InvalidArgumentError(`deleted file "${path}" of the checkpoint: ${messageOf(err)}`);
    }
    if (!rel || !inImage(opts.lowerDirs, rel)) continue;
    if (!(await ensureParents(opts.upperDir, opts.lowerDirs, rel))) continue;
    // Re-created after the deletion: the diff has it, and it stays.
    if (await lstat(join(opts.upperDir, rel)).catch(() => undefined)) continue;
    await special.whiteout(join(opts.upperDir, rel));
  }
}

function inImage(lowerDirs: readonly string[], rel: string): boolean {
  return lowerNamesIn(lowerDirs, parentOf(rel)).includes(rel.slice(rel.lastIndexOf('/') + 1));
}

/** Creates the missing parents of `rel` in the upper layer; false when one is there but not a directory. */
async function ensureParents(upperDir: string, lowerDirs: readonly string[], rel: string): Promise<boolean> {
  const parts = parentOf(rel).split('/').filter((p) => p !== '');
  let sub = '';
  for (const part of parts) {
    sub = sub ? `${sub}/${part}` : part;
    const st = await lstat(join(upperDir, sub)).catch(() => undefined);
    if (st) {
      if (!st.isDirectory()) return false;
      continue;
    }
    const image = lowerDirs.map((l) => layerDir(l, sub)).find((s) => s !== undefined);
    await mkdir(join(upperDir, sub), { mode: 0o755 });
    if (image) {
      await chown(join(upperDir, sub), image.uid, image.gid);
      await chmod(join(upperDir, sub), image.mode & 0o7777);
      await utimes(join(upperDir, sub), image.atime, image.mtime);
    }
  }
  return true;
}

function lstatSafe(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function statSafe(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Removes a half-written diff. */
export async function discardDiff(path: string): Promise<void> {
  await rm(path, { force: true });
}
