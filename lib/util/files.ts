import { accessSync, constants, readFileSync } from 'node:fs';

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
