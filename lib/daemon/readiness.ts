import { isExecutable } from '../util/files.js';
import type { Config } from '../config/index.js';
import type { Condition } from './services.js';


/** RuntimeReady: the default handler's binary and conmon can be run. */
export function runtimeReadiness(config: Config): () => Condition {
  return () => {
    const handler = config.runtimes[config.runtime.default_handler]!;
    if (!isExecutable(handler.path)) return { ready: false, reason: 'RuntimeBinaryMissing', message: `${handler.path} is not an executable` };
    if (!isExecutable(config.runtime.conmon_path)) return { ready: false, reason: 'ConmonMissing', message: `${config.runtime.conmon_path} is not an executable` };
    return { ready: true, reason: '', message: '' };
  };
}
