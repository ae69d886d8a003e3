/**
 * Runs the benchmark scenarios: all of them, or those named on the command line
 * (`npm run bench -- daemon pod-sandbox`). Each prints `metric value unit` lines.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const HELPERS = new Set(['run', 'report', 'version-client', 'first-answer', 'floor-server', 'runc-floor']);
const available = readdirSync(here)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .filter((name) => !HELPERS.has(name))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; have ${available.join(', ')}\n`);
  process.exit(2);
}

const names = wanted.length ? wanted : available;
if (names.length === 1) {
  process.stdout.write(`# ${names[0]}\n`);
  const scenario = (await import(`./${names[0]}.js`)) as { run?: () => Promise<void> };
  if (typeof scenario.run === 'function') await scenario.run();
} else {
  // Each scenario in a fresh process: floors measured from a process grown by earlier
  // scenarios (fork costs more from a bigger one) would flatter runcri.
  for (const name of names) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), name], { stdio: 'inherit' });
    if (child.status !== 0) process.exitCode = 1;
  }
}
