import { readFileSync, writeFileSync } from 'node:fs';
import type { Config } from './schema.js';

/**
 * Whether container oom_score_adj must be clamped to the daemon's own. Without
 * CAP_SYS_RESOURCE the kernel refuses lowering it (EPERM), and runc would fail every start.
 * `auto` probes by writing the current value minus one to our own file and restoring it.
 */
export function detectOomScoreRestriction(setting: Config['runtime']['restrict_oom_score_adj']): { restricted: boolean; own: number } {
  const own = Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
  if (setting === 'true') return { restricted: true, own };
  if (setting === 'false') return { restricted: false, own };
  if (own <= -1000) return { restricted: false, own };
  try {
    writeFileSync('/proc/self/oom_score_adj', String(own - 1));
    writeFileSync('/proc/self/oom_score_adj', String(own));
    return { restricted: false, own };
  } catch {
    return { restricted: true, own };
  }
}

export function clampOomScoreAdj(requested: number, restriction: { restricted: boolean; own: number }): number {
  return restriction.restricted ? Math.max(requested, restriction.own) : requested;
}
