import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What an ADD left behind for its DEL: the config it used and the result it got. */
export interface CachedAttachment {
  kind: 'cni#v1';
  containerId: string;
  ifName: string;
  networkName: string;
  /** The network configuration list ADD ran with (JSON), so DEL matches it after the operator edits the file. */
  config: string;
  cniArgs: string;
  capabilityArgs: Record<string, unknown>;
  result: unknown;
}

/** One JSON file per attachment under the cache directory, written by rename so a crash leaves the old or the new. */
export class ResultCache {
  constructor(private readonly dir: string) {}

  private file(containerId: string, ifName: string): string {
    return join(this.dir, 'results', `${containerId}-${ifName}`);
  }

  put(entry: CachedAttachment): void {
    const file = this.file(entry.containerId, entry.ifName);
    mkdirSync(join(this.dir, 'results'), { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(entry), { mode: 0o600 });
    renameSync(tmp, file);
  }

  get(containerId: string, ifName: string): CachedAttachment | undefined {
    try {
      const entry = JSON.parse(readFileSync(this.file(containerId, ifName), 'utf8')) as CachedAttachment;
      return entry.kind === 'cni#v1' ? entry : undefined;
    } catch {
      return undefined;
    }
  }

  delete(containerId: string, ifName: string): void {
    rmSync(this.file(containerId, ifName), { force: true });
  }
}
