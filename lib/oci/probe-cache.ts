import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { runCommand } from '../process/index.js';

/**
 * Which binary a probe ran: a result stays good while the file at the path is the same one.
 * Size and modification time are read with a stat at start (cheap); the version is what the
 * binary printed when it was probed, recorded so a reader of the cache can tell what ran.
 */
export interface BinaryIdentity {
  path: string;
  size: number;
  mtimeNs: string;
  version: string;
}

/** What a probe found about one handler, as RuntimeHandlers keeps it. */
export interface ProbeResult {
  path: string;
  problem: string;
  usernsProblem: string;
  features: { recursiveReadOnlyMounts: boolean; userNamespaces: boolean };
}

interface CacheEntry {
  /** Everything besides the binary the probe's outcome depends on (config, helpers, kernel). */
  inputs: string;
  binary: BinaryIdentity;
  result: ProbeResult;
  probedAt: string;
}

const FORMAT = 1;

/** Path, size and mtime of a binary; undefined when it cannot be read. */
export function statIdentity(path: string): Omit<BinaryIdentity, 'version'> | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return { path, size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
  } catch {
    return undefined;
  }
}

/** The first line `BINARY --version` prints ('' when it prints nothing or fails). */
export async function binaryVersion(path: string): Promise<string> {
  try {
    const { stdout } = await runCommand(path, ['--version'], { timeoutMs: 10_000 });
    return stdout.split('\n', 1)[0]!.trim();
  } catch {
    return '';
  }
}

/**
 * The inputs of a handler's probe other than its binary: a result found with another
 * configuration, ID-mapping helper or kernel says nothing about this one.
 */
export function probeInputs(parts: Record<string, unknown>): string {
  return JSON.stringify({ ...parts, kernel: release() });
}

/**
 * Handler probe results kept across restarts in one JSON file, so a restarted daemon serves
 * at once with what the same binary showed last time while the probe runs again behind it.
 * A file that cannot be read or parsed is an empty cache: the probe just runs.
 */
export class ProbeCache {
  private entries: Record<string, CacheEntry> = {};

  constructor(private readonly file: string) {
    try {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { format?: number; handlers?: Record<string, CacheEntry> };
      if (doc.format === FORMAT && doc.handlers && typeof doc.handlers === 'object') this.entries = doc.handlers;
    } catch {
      // No cache yet, or a damaged one.
    }
  }

  /** The cached result of `handler` if it was found with the same inputs and the binary at `path` is unchanged. */
  lookup(handler: string, inputs: string, path: string): { result: ProbeResult; binary: BinaryIdentity; probedAt: string } | undefined {
    const entry = this.entries[handler];
    if (!entry || entry.inputs !== inputs || entry.binary?.path !== path) return undefined;
    const now = statIdentity(path);
    if (!now || now.size !== entry.binary.size || now.mtimeNs !== entry.binary.mtimeNs) return undefined;
    // A wrapper the probe chose must still be the same file too.
    if (entry.result.path !== path) {
      const wrapper = statIdentity(entry.result.path);
      if (!wrapper) return undefined;
    }
    return { result: entry.result, binary: entry.binary, probedAt: entry.probedAt };
  }

  /** Records a fresh result and writes the file (atomically: a crash leaves the old one). */
  store(handler: string, inputs: string, binary: BinaryIdentity, result: ProbeResult): void {
    this.entries[handler] = { inputs, binary, result, probedAt: new Date().toISOString() };
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ format: FORMAT, handlers: this.entries }), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
