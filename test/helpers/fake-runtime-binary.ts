import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A shell script that stands in for the OCI runtime binary in exec tests: called with runc's
 * exec arguments, it records a PID where `--pid-file` says (the process started), runs `body`
 * and exits as that does.
 */
export function fakeRuntimeBinary(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nfor a; do [ "$prev" = --pid-file ] && echo $$ > "$a"; prev=$a; done\n${body}\n`, { mode: 0o755 });
  return path;
}
