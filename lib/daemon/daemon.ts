import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { detectOomScoreRestriction, type Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { acquireRootLock, StateStore, type RootLock } from '../state/index.js';
import { createCriServer, listenOnSocket, type CriServer, type SocketListener } from '../server/index.js';
import { packageVersion } from './version.js';
import { cniConfigPresence, runtimeReadiness } from './readiness.js';
import type { Services } from './services.js';

export interface Daemon {
  services: Services;
  /** Closes the socket, waits (bounded) for calls in flight, leaves containers running. */
  stop(): Promise<void>;
}

/**
 * Starts runcri: lock the root, open the state, recover, then listen. Calls that arrive while
 * recovery runs are answered UNAVAILABLE rather than with a half-rebuilt view.
 */
export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  mkdirSync(config.root, { recursive: true, mode: 0o711 });
  mkdirSync(config.state_dir, { recursive: true, mode: 0o711 });
  const lock: RootLock = acquireRootLock(config.root);
  let store: StateStore | undefined;
  let listener: SocketListener | undefined;
  let server: CriServer | undefined;
  try {
    store = StateStore.open(join(config.root, 'state.db'));
    const services: Services = {
      config,
      version: packageVersion(),
      log,
      store,
      oomRestriction: detectOomScoreRestriction(config.runtime.restrict_oom_score_adj),
      runtimeReadiness: runtimeReadiness(config),
      network: cniConfigPresence(config.network.conf_dir),
    };
    server = createCriServer(services, log);
    listener = await listenOnSocket(config.socket, server.grpc, log);
    server.setReady();
    log.info({ socket: config.socket, root: config.root, version: services.version }, 'runcri is serving');
    const running = { server, listener, store };
    return {
      services,
      stop: () => stopDaemon(running, config, lock, log),
    };
  } catch (err) {
    await listener?.close();
    server?.grpc.forceShutdown();
    store?.close();
    lock.release();
    throw err;
  }
}

async function stopDaemon(
  running: { server: CriServer; listener: SocketListener; store: StateStore },
  config: Config,
  lock: RootLock,
  log: Logger,
): Promise<void> {
  const { server, listener, store } = running;
  await listener.close();
  const deadline = Date.now() + config.shutdown_grace_ms;
  while (server.inflight.count > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (server.inflight.count > 0) log.warn({ inflight: server.inflight.count }, 'shutting down with calls still in flight');
  server.grpc.forceShutdown();
  store.close();
  lock.release();
  log.info('runcri stopped');
}
