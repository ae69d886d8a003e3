export { startDaemon, type Daemon } from './daemon.js';
export type { Services, Condition, NetworkReadiness } from './services.js';
export { packageVersion } from './version.js';
