import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Mount__Output } from '../generated/runtime/v1/Mount.js';
import { InvalidArgumentError, NotFoundError, messageOf } from '../errors/index.js';
import type { OciSeccomp } from '../oci/index.js';
import { ensureShared } from '../mount/index.js';

/**
 * The request's mounts with host paths checked and resolved (a missing one is the caller's
 * error, not a directory to invent), and sources of propagating mounts made shared.
 */
export async function prepareMounts(mounts: Mount__Output[]): Promise<{ mounts: Mount__Output[]; propagated: string[]; madeShared: string[] }> {
  const out: Mount__Output[] = [];
  const propagated: string[] = [];
  const madeShared: string[] = [];
  for (const m of mounts) {
    if (!m.host_path || !isAbsolute(m.host_path)) throw new InvalidArgumentError(`mount ${m.container_path}: host_path "${m.host_path}" must be an absolute path`);
    if (!existsSync(m.host_path)) throw new InvalidArgumentError(`mount ${m.container_path}: host path ${m.host_path} does not exist`);
    const hostPath = realpathSync(m.host_path);
    if (m.propagation !== 'PROPAGATION_PRIVATE') {
      propagated.push(hostPath);
      if (await ensureShared(hostPath)) madeShared.push(hostPath);
    }
    out.push({ ...m, host_path: hostPath });
  }
  return { mounts: out, propagated, madeShared };
}

/** The log file's host path: `log_path` relative to the pod's log directory, never outside it. */
export function resolveLogPath(logDirectory: string, logPath: string, fallbackDir: string): string {
  if (!logDirectory || !logPath) return join(fallbackDir, 'container.log');
  const full = resolve(logDirectory, logPath);
  const rel = relative(resolve(logDirectory), full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new InvalidArgumentError(`log_path "${logPath}" escapes the pod's log directory`);
  return full;
}

export function loadSeccompProfile(path: string): OciSeccomp {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new NotFoundError(`seccomp profile ${path}: ${messageOf(err)}`);
  }
  try {
    const profile = JSON.parse(text) as OciSeccomp;
    if (typeof profile.defaultAction !== 'string') throw new Error('no defaultAction');
    return profile;
  } catch (err) {
    throw new InvalidArgumentError(`seccomp profile ${path} is not a valid profile: ${messageOf(err)}`);
  }
}
