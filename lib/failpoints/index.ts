import { writeSync } from 'node:fs';
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads';
import { InternalError } from '../errors/index.js';
import { FAILPOINTS, type FailpointName } from './registry.js';

export { FAILPOINTS, type FailpointName } from './registry.js';

/**
 * Failpoints: named places in an operation where a test makes runcri fail (throw a domain
 * error) or die (SIGKILL itself), to prove that what a failure or a crash leaves behind is
 * undone. They are armed only by the environment variable RUNCRI_FAILPOINTS, read once when
 * this module loads:
 *
 *     RUNCRI_FAILPOINTS='sandbox.run.after-cni-add=kill,image.pull.mid-commit=1*error'
 *
 * `error` throws at every pass, `N*error` at the first N passes only (the daemon's later calls
 * go through: a retry in the same process), `kill` ends the daemon at the first pass. Without
 * the variable a failpoint is one comparison with undefined.
 *
 * Unpack workers are threads of the same process: the pass counts live in shared memory
 * handed to every worker, so `1*error` fails once per daemon, not once per thread.
 */
export const FAILPOINTS_ENV = 'RUNCRI_FAILPOINTS';

/** An error a failpoint threw on purpose: INTERNAL, naming the failpoint. */
export class InjectedFailure extends InternalError {
  constructor(readonly failpoint: FailpointName) {
    super(`failpoint ${failpoint}: injected failure`);
  }
}

type Action = 'error' | 'kill';

interface Armed {
  action: Action;
  /** Index into the shared pass counts; -1: every pass. */
  slot: number;
}

interface Armament {
  armed: Map<string, Armed>;
  /** Passes left per counted failpoint, shared by the daemon's threads. */
  left: Int32Array;
  problem: string | undefined;
}

const SHARED_KEY = 'runcri.failpoints.passes';
const KNOWN = new Set<string>(FAILPOINTS.map((f) => f.name));
const SPEC = /^(?:(\d+)\*)?(error|kill)$/;

function parse(text: string): Armament {
  const armed = new Map<string, Armed>();
  const counts: number[] = [];
  const problems: string[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const spec = SPEC.exec(eq < 0 ? '' : item.slice(eq + 1).trim());
    if (!KNOWN.has(name)) {
      problems.push(`unknown failpoint "${name}"`);
      continue;
    }
    if (!spec) {
      problems.push(`failpoint ${name}: expected error, N*error or kill`);
      continue;
    }
    const action = spec[2] as Action;
    // kill fires once by its nature; a counted error takes a slot of the shared counts.
    const count = action === 'kill' ? 1 : spec[1] === undefined ? -1 : Number(spec[1]);
    armed.set(name, { action, slot: count < 0 ? -1 : counts.length });
    if (count >= 0) counts.push(count);
  }
  // Set up by the daemon's thread before any worker starts; workers find the same memory.
  let shared = isMainThread ? undefined : (getEnvironmentData(SHARED_KEY) as SharedArrayBuffer | undefined);
  if (!shared) {
    shared = new SharedArrayBuffer(4 * Math.max(1, counts.length));
    new Int32Array(shared).set(counts);
    if (isMainThread) setEnvironmentData(SHARED_KEY, shared);
  }
  return { armed, left: new Int32Array(shared), problem: problems.length > 0 ? `${FAILPOINTS_ENV}: ${problems.join('; ')}` : undefined };
}

const spec = process.env[FAILPOINTS_ENV];
const armament: Armament | undefined = spec ? parse(spec) : undefined;

/**
 * The failpoints the environment arms, as `name=action` (empty when none); throws when the
 * variable names an unknown failpoint or action, so a typo never tests nothing.
 */
export function armedFailpoints(): string[] {
  if (!armament) return [];
  if (armament.problem) throw new InternalError(armament.problem);
  return [...armament.armed].map(([name, a]) => `${name}=${a.slot < 0 ? '' : `${armament.left[a.slot]}*`}${a.action}`);
}

/** A named place in an operation: a no-op unless RUNCRI_FAILPOINTS arms it. */
export function failpoint(name: FailpointName): void {
  if (armament === undefined) return;
  const armed = armament.armed.get(name);
  if (!armed) return;
  if (armed.slot >= 0 && Atomics.sub(armament.left, armed.slot, 1) <= 0) return;
  if (armed.action === 'kill') {
    // Written synchronously: the test's log shows where the daemon died.
    writeSync(2, `${JSON.stringify({ level: 60, msg: 'failpoint: killing the daemon', failpoint: name })}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
  throw new InjectedFailure(name);
}
