import { accessSync, constants } from 'node:fs';
import type { Config } from '../config/index.js';
import type { Condition } from './services.js';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** RuntimeReady: the default handler's binary and conmon can be run. */
export function runtimeReadiness(config: Config): () => Condition {
  return () => {
    const handler = config.runtimes[config.runtime.default_handler]!;
    if (!executable(handler.path)) return { ready: false, reason: 'RuntimeBinaryMissing', message: `${handler.path} is not an executable` };
    if (!executable(config.runtime.conmon_path)) return { ready: false, reason: 'ConmonMissing', message: `${config.runtime.conmon_path} is not an executable` };
    return { ready: true, reason: '', message: '' };
  };
}
