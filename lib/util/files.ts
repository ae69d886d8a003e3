import { accessSync, constants } from 'node:fs';

/** Can this process execute the file at `path`? */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
