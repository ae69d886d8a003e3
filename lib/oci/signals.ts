/**
 * A signal as the OCI runtimes take it. CRI names the real-time signals SIGRTMIN,
 * SIGRTMINPLUS<n>, SIGRTMAXMINUS<n> and SIGRTMAX; runc (1.1) knows none of these names and
 * fails the kill, so they go by number: SIGRTMIN is 34 as the C library (and runc, and the
 * peers' signal tables) count it, SIGRTMAX 64. Every other name passes unchanged.
 */
export function runtimeSignal(name: string): string {
  const m = /^(?:SIG)?RT(MIN|MAX)(?:(PLUS|MINUS)([0-9]{1,2}))?$/.exec(name);
  if (!m) return name;
  const base = m[1] === 'MIN' ? 34 : 64;
  const offset = Number(m[3] ?? '0');
  const number = m[2] === 'MINUS' ? base - offset : base + offset;
  return number >= 34 && number <= 64 ? String(number) : name;
}
