import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Can this process execute the file at `path`? */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A file's text, or undefined when it cannot be read (absent, gone meanwhile). */
export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** An executable file of this installation (`native/idmap-mount`, a bundled wrapper), found from this module in dist/ or a build dir. */
export function installedFile(...parts: string[]): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) {
      const path = join(dir, ...parts);
      return isExecutable(path) ? path : undefined;
    }
    dir = dirname(dir);
  }
  return undefined;
}
