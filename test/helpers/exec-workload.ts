/**
 * ExecSync calls whose every output byte is known in advance: call i prints a seeded number of
 * lines on stdout and on stderr (busybox `seq`), then a line naming itself. Used by the
 * ExecSync test and benchmark to count lost bytes, not just empty answers.
 */
import { seededRandom } from './random.js';

export interface PlannedExec {
  cmd: string[];
  stdout: string;
  stderr: string;
}

function lines(n: number): string {
  let out = '';
  for (let i = 1; i <= n; i++) out += `${i}\n`;
  return out;
}

export function planExecs(count: number, seed: number): PlannedExec[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    // Mostly small answers, as probes give, some of several pipe buffers.
    const out = random() < 0.9 ? Math.floor(random() * 50) : Math.floor(random() * 20_000);
    const err = random() < 0.5 ? 0 : Math.floor(random() * 500);
    return {
      cmd: ['sh', '-c', `seq 1 ${out}; seq 1 ${err} >&2; echo call ${i}`],
      stdout: `${lines(out)}call ${i}\n`,
      stderr: lines(err),
    };
  });
}

/** Bytes of the plan missing or wrong in an answer (0 when it is exact). */
export function lostBytes(plan: PlannedExec, answer: { exitCode: number; stdout: string; stderr: string }): number {
  const diff = (want: string, got: string) => (want === got ? 0 : Math.max(1, Buffer.byteLength(want) - commonPrefix(want, got)));
  return diff(plan.stdout, answer.stdout) + diff(plan.stderr, answer.stderr) + (answer.exitCode === 0 ? 0 : 1);
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return Buffer.byteLength(a.slice(0, i));
}
