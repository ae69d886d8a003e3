/**
 * The CDI devices the spec directories define. Every `.json` and `.yaml` file directly in a
 * directory is a spec; a later directory has priority over an earlier one (with the default
 * `/etc/cdi`, `/var/run/cdi`, generated specs override static ones). A device defined twice at
 * the same priority is a conflict and is not available; at different priorities the later
 * directory's wins. A spec file that cannot be read or fails its checks defines nothing, and
 * why is kept for the error of anyone asking for its devices.
 *
 * The directories are read again at each resolution, so a spec written a moment ago counts;
 * a file whose size and mtime are unchanged is not parsed again.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { messageOf } from '../errors/index.js';
import { parseSpecFile } from './spec.js';
import type { CdiDevice, CdiSpec } from './types.js';

export interface LoadedDevice {
  qualifiedName: string;
  device: CdiDevice;
  spec: CdiSpec;
  path: string;
  priority: number;
}

export interface CdiView {
  devices: Map<string, LoadedDevice>;
  /** Spec files that define nothing, and why. */
  errors: Map<string, string>;
  /** Devices left out because two specs of the same priority define them: the specs' paths. */
  conflicts: Map<string, string[]>;
}

interface CachedFile {
  mtimeMs: number;
  size: number;
  spec?: CdiSpec;
  error?: string;
}

function specFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.isDirectory() && (extname(e.name) === '.json' || extname(e.name) === '.yaml'))
      .map((e) => join(dir, e.name))
      .sort();
  } catch {
    // a missing directory holds no specs
    return [];
  }
}

export class CdiRegistry {
  private readonly files = new Map<string, CachedFile>();

  constructor(readonly dirs: readonly string[]) {}

  private read(path: string): CachedFile {
    let st;
    try {
      st = statSync(path);
    } catch (err) {
      return { mtimeMs: 0, size: 0, error: messageOf(err) };
    }
    const cached = this.files.get(path);
    if (cached && cached.mtimeMs === st.mtimeMs && cached.size === st.size) return cached;
    let entry: CachedFile;
    try {
      entry = { mtimeMs: st.mtimeMs, size: st.size, spec: parseSpecFile(readFileSync(path, 'utf8'), path) };
    } catch (err) {
      entry = { mtimeMs: st.mtimeMs, size: st.size, error: messageOf(err) };
    }
    this.files.set(path, entry);
    return entry;
  }

  /** Every device the directories define now. */
  view(): CdiView {
    const view: CdiView = { devices: new Map(), errors: new Map(), conflicts: new Map() };
    const seenFiles = new Set<string>();
    this.dirs.forEach((dir, priority) => {
      for (const path of specFiles(dir)) {
        seenFiles.add(path);
        const file = this.read(path);
        if (!file.spec) {
          view.errors.set(path, file.error ?? 'unreadable');
          continue;
        }
        for (const device of file.spec.devices) {
          const qualifiedName = `${file.spec.kind}=${device.name}`;
          const other = view.devices.get(qualifiedName);
          if (other && other.priority === priority) {
            view.conflicts.set(qualifiedName, [...(view.conflicts.get(qualifiedName) ?? [other.path]), path]);
            continue;
          }
          if (!other || priority > other.priority) {
            view.devices.set(qualifiedName, { qualifiedName, device, spec: file.spec, path, priority });
            view.conflicts.delete(qualifiedName);
          }
        }
      }
    });
    for (const name of view.conflicts.keys()) view.devices.delete(name);
    for (const path of this.files.keys()) if (!seenFiles.has(path)) this.files.delete(path);
    return view;
  }
}
