import { accessSync, constants, readdirSync } from 'node:fs';
import type { Config } from '../config/index.js';
import type { Condition, NetworkReadiness } from './services.js';

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

/** NetworkReady until the network module takes over: is there any CNI config file? */
export function cniConfigPresence(confDir: string): NetworkReadiness {
  return {
    status() {
      let names: string[] = [];
      try {
        names = readdirSync(confDir).filter((n) => /\.(conflist|conf|json)$/.test(n));
      } catch {
        // a missing directory is the same as an empty one
      }
      if (names.length === 0) {
        return { ready: false, reason: 'NetworkPluginNotReady', message: `Network plugin returns error: no CNI configuration file in ${confDir}` };
      }
      return { ready: true, reason: '', message: '' };
    },
  };
}
