import type { Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { StateStore } from '../state/index.js';

export interface Condition {
  ready: boolean;
  reason: string;
  message: string;
}

/** Whether the pod network can be set up: the CNI config the daemon would use. */
export interface NetworkReadiness {
  status(): Condition;
}

/**
 * Everything the RPC handlers reach: built once at start by the daemon, one instance of each
 * concern. Handlers get it through their CallContext; nothing else imports the daemon.
 */
export interface Services {
  config: Config;
  /** runcri's own version, from package.json. */
  version: string;
  log: Logger;
  store: StateStore;
  /** The oom_score_adj floor containers are clamped to, when the kernel refuses lower. */
  oomRestriction: { restricted: boolean; own: number };
  runtimeReadiness(): Condition;
  network: NetworkReadiness;
}
