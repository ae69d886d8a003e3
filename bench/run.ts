/**
 * Runs the benchmark scenarios: all of them, or those named on the command line
 * (`npm run bench -- daemon pod-sandbox`). Each prints `metric value unit` lines.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const HELPERS = new Set(['run', 'report', 'version-client']);
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

for (const name of wanted.length ? wanted : available) {
  process.stdout.write(`# ${name}\n`);
  const scenario = (await import(`./${name}.js`)) as { run?: () => Promise<void> };
  if (typeof scenario.run !== 'function') continue;
  await scenario.run();
}
