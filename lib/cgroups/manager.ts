import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InternalError, messageOf } from '../errors/index.js';
import type { CgroupLayout } from './mounts.js';
import { ancestorsOf } from './paths.js';
import { v1Writes, v2Writes, type CgroupResources } from './resources.js';

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}


/** The kernel refused a limit: which file, which value, and its errno (EBUSY, EINVAL...). */
export class CgroupWriteError extends InternalError {
  readonly errno: string | undefined;
  constructor(readonly file: string, readonly value: string, readonly path: string, cause: unknown) {
    super(`setting ${file}=${value} on cgroup ${path}: ${messageOf(cause)}`, { cause });
    this.errno = errno(cause);
  }
}

/**
 * cgroupfs create/update/delete/read for one host layout. Paths are relative to each
 * hierarchy's root (`/kubepods/pod1`); v1 makes the directory in every mounted hierarchy.
 */
export class CgroupManager {
  constructor(readonly layout: CgroupLayout) {}

  /** The directories one cgroup path names, one per hierarchy. */
  dirs(path: string): string[] {
    if (this.layout.version === 2) return [join(this.layout.unified!, path)];
    return this.layout.v1.map((h) => join(h.mountPoint, path));
  }

  /**
   * Every hierarchy runc may make a cgroup in: those `dirs` names, and on a hybrid host the
   * cgroup2 mount as well. runc makes a container's cgroup there too, with every missing
   * ancestor (the pod's cgroup among them); it deletes only the container's own, and nothing
   * else would delete the rest: one directory per pod, left forever.
   */
  roots(): string[] {
    if (this.layout.version === 2) return [this.layout.unified!];
    const roots = this.layout.v1.map((h) => h.mountPoint);
    if (this.layout.unified) roots.push(this.layout.unified);
    return roots;
  }

  /** What removal deletes: the path in every one of `roots`. */
  private removalDirs(path: string): string[] {
    return this.roots().map((root) => join(root, path));
  }

  private hierarchyOf(controller: string): string | undefined {
    if (this.layout.version === 2) return this.layout.unified;
    return this.layout.v1.find((h) => h.controllers.includes(controller))?.mountPoint;
  }

  /** Ancestors of `path` (itself included) that some hierarchy lacks: what `create` will make. */
  missing(path: string): string[] {
    return ancestorsOf(path).filter((p) => this.dirs(p).some((d) => !existsSync(d)));
  }

  exists(path: string): boolean {
    return this.dirs(path).every((d) => existsSync(d));
  }

  /**
   * Makes the cgroup in every hierarchy; returns the relative paths it created, shallowest
   * first, so removal deletes only those. A concurrent removal of a shared empty ancestor is
   * retried rather than failing the pod.
   */
  create(path: string): string[] {
    const created = this.missing(path);
    for (let attempt = 0; ; attempt++) {
      try {
        for (const p of ancestorsOf(path)) {
          for (const dir of this.dirs(p)) {
            try {
              mkdirSync(dir);
            } catch (err) {
              if (errno(err) === 'EEXIST') continue;
              throw err;
            }
            try {
              this.initialize(dir);
            } catch (err) {
              throw new InternalError(`preparing cgroup ${dir}: ${messageOf(err)}`, { cause: err });
            }
          }
        }
        return created;
      } catch (err) {
        if (err instanceof InternalError) throw err;
        if (errno(err) !== 'ENOENT' || attempt >= 5) throw new InternalError(`creating cgroup ${path}: ${messageOf(err)}`, { cause: err });
      }
    }
  }

  /** What a new cgroup needs before tasks can join it. */
  private initialize(dir: string): void {
    if (this.layout.version === 2) {
      this.enableControllers(join(dir, '..'));
      return;
    }
    // A new v1 cpuset starts with no CPUs and no memory nodes; inherit the parent's.
    if (this.layout.v1.some((h) => h.controllers.includes('cpuset') && dir.startsWith(`${h.mountPoint}/`))) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        const own = readFileSync(join(dir, file), 'utf8').trim();
        if (!own) writeFileSync(join(dir, file), readFileSync(join(dir, '..', file), 'utf8').trim());
      }
    }
  }

  /** v2: a child can only use the controllers its parent delegates. */
  private enableControllers(parentDir: string): void {
    let available: string[];
    try {
      available = readFileSync(join(parentDir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      return;
    }
    const enabled = new Set(readFileSync(join(parentDir, 'cgroup.subtree_control'), 'utf8').trim().split(/\s+/));
    for (const c of available) {
      if (enabled.has(c)) continue;
      try {
        writeFileSync(join(parentDir, 'cgroup.subtree_control'), `+${c}`);
      } catch {
        // some controllers cannot be delegated here (threaded subtrees, busy parents); limits on them then fail loudly in apply()
      }
    }
  }

  /** Writes the limits; a hierarchy this host lacks (no hugetlb on v1 here) is skipped, a refused value fails. */
  apply(path: string, resources: CgroupResources): void {
    const writes = this.layout.version === 2 ? v2Writes(resources) : v1Writes(resources);
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      const root = this.hierarchyOf(w.controller);
      if (!root) continue;
      const file = join(root, path, w.file);
      if (w.file === 'memory.memsw.limit_in_bytes' && !existsSync(file)) continue; // swap accounting off
      try {
        writeFileSync(file, w.value);
      } catch (err) {
        // v1 refuses a memory limit above memsw: raise memsw first, then the limit.
        const next = writes[i + 1];
        if (w.file === 'memory.limit_in_bytes' && next?.file === 'memory.memsw.limit_in_bytes' && existsSync(join(root, path, next.file))) {
          writeFileSync(join(root, path, next.file), next.value);
          writeFileSync(file, w.value);
          i++;
          continue;
        }
        throw new CgroupWriteError(w.file, w.value, path, err);
      }
    }
  }

  /** Where a control file is: in the hierarchy that carries its controller (undefined when none does). */
  filePath(path: string, file: string): string | undefined {
    const root = this.hierarchyOf(file.split('.')[0]!);
    return root ? join(root, path, file) : undefined;
  }

  /** One control file, read from the hierarchy that carries its controller. */
  read(path: string, file: string): string | undefined {
    const abs = this.filePath(path, file);
    if (!abs) return undefined;
    try {
      return readFileSync(abs, 'utf8');
    } catch {
      return undefined;
    }
  }

  /**
   * Removes the cgroup (and any child cgroups left in it) from every hierarchy, then those of
   * `created` ancestors that are empty. A cgroup whose tasks are still exiting is retried
   * briefly; one that stays busy is an error.
   */
  async remove(path: string, created: readonly string[]): Promise<void> {
    for (const dir of this.removalDirs(path)) await removeTree(dir);
    const ancestors = created.filter((p) => p !== path && path.startsWith(`${p}/`)).sort((a, b) => b.length - a.length);
    for (const p of ancestors) {
      for (const dir of this.removalDirs(p)) {
        try {
          rmdirSync(dir);
        } catch {
          // shared with another pod, or already gone
        }
      }
    }
  }
}

async function removeTree(dir: string): Promise<void> {
  let children: string[];
  try {
    children = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if (errno(err) === 'ENOENT') return;
    throw err;
  }
  for (const child of children) await removeTree(join(dir, child));
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 50) throw new InternalError(`removing cgroup ${dir}: ${messageOf(err)}`, { cause: err });
      await sleep(20);
    }
  }
}
