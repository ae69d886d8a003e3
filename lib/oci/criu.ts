import { CommandFailedError, runCommand } from '../process/index.js';
import { messageOf } from '../errors/index.js';

/** Whether a runtime can checkpoint and restore containers on this node, and if not, why. */
export interface CheckpointSupport {
  usable: boolean;
  /** Empty when usable; otherwise the reason, quoting what the failing program said. */
  reason: string;
  /** `criu --version`'s first line, when CRIU could be run at all. */
  criuVersion?: string;
}

/** The programs the check runs; tests may point them elsewhere. */
export interface CheckpointProbeTools {
  criu: string;
}

const CHECK_TIMEOUT_MS = 30_000;

/** A program's words, one line: what it printed on stderr (or stdout), trimmed and joined. */
export function programWords(stderr: string, stdout = ''): string {
  const text = stderr.trim() || stdout.trim();
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join('; ');
}

/**
 * Checks, by running them, what a checkpoint needs: the OCI runtime binary must know
 * `checkpoint` (crun can be built without CRIU), CRIU must run and `criu check` must pass
 * (it fails where it cannot work with this kernel). The first failure is the reason.
 */
export async function probeCheckpointSupport(runtimePath: string, tools: CheckpointProbeTools = { criu: 'criu' }): Promise<CheckpointSupport> {
  try {
    await runCommand(runtimePath, ['checkpoint', '--help'], { timeoutMs: CHECK_TIMEOUT_MS });
  } catch (err) {
    const words = err instanceof CommandFailedError ? programWords(err.stderr, err.stdout) : messageOf(err);
    return { usable: false, reason: `${runtimePath} cannot checkpoint containers: \`${runtimePath} checkpoint\` says: ${words}` };
  }
  let criuVersion: string;
  try {
    criuVersion = (await runCommand(tools.criu, ['--version'], { timeoutMs: CHECK_TIMEOUT_MS })).stdout.split('\n')[0]?.trim() ?? '';
  } catch (err) {
    return { usable: false, reason: `CRIU cannot be run on this node: ${messageOf(err)}` };
  }
  try {
    await runCommand(tools.criu, ['check'], { timeoutMs: CHECK_TIMEOUT_MS });
  } catch (err) {
    const words = err instanceof CommandFailedError ? programWords(err.stderr, err.stdout) : messageOf(err);
    return { usable: false, reason: `CRIU cannot checkpoint on this node: \`criu check\` failed: ${words}`, criuVersion };
  }
  return { usable: true, reason: '', criuVersion };
}

/**
 * The verdicts, one per runtime binary and CRIU, found once: a node's kernel and CRIU do not
 * change while the daemon runs, and `criu check` costs a few hundred milliseconds on some kernels.
 */
export class CheckpointSupportCache {
  private readonly verdicts = new Map<string, Promise<CheckpointSupport>>();

  of(runtimePath: string, criu = 'criu'): Promise<CheckpointSupport> {
    const key = `${runtimePath}\0${criu}`;
    let verdict = this.verdicts.get(key);
    if (!verdict) {
      verdict = probeCheckpointSupport(runtimePath, { criu });
      this.verdicts.set(key, verdict);
    }
    return verdict;
  }
}

/** One cache for the daemon: every handler's runtime asks it. */
export const checkpointSupportCache = new CheckpointSupportCache();
