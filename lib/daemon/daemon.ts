import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { detectOomScoreRestriction, type Config } from '../config/index.js';
import { messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { acquireRootLock, restrictRootDir, StateStore, type RootLock } from '../state/index.js';
import { createCriServer, eventSnapshotter, listenOnSocket, type CriServer, type SocketListener } from '../server/index.js';
import { Paths } from '../paths/index.js';
import { packageVersion } from './version.js';
import { removeUnrecorded } from './unrecorded.js';
import { CgroupManager, hostCgroupLayout } from '../cgroups/index.js';
import { CniNetwork, SandboxService } from '../sandbox/index.js';
import { ImageService } from '../image/index.js';
import { Storage } from '../storage/index.js';
import { ContainerLifecycle } from '../container/index.js';
import { RuntimeHandlers } from '../oci/index.js';
import { ContainerEventBus, StatsService, containerStatsSource, loadRuntimeMetrics, noMetrics, startMetricsEndpoint } from '../stats/index.js';
import { LazyStreaming, streamingLookups } from '../streaming/index.js';
import type { Services } from './services.js';
import { missingNativeHelpers } from './native-helpers.js';

/** How long after it starts answering the daemon leaves its background work (probes, checks, GC) waiting. */
const BACKGROUND_DELAY_MS = 1000;

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
  // performance.now() counts from the process's start: the first mark is what loading took.
  const phases: Record<string, number> = { modules: Math.round(performance.now()) };
  let mark = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - mark);
    mark = now;
  };
  mkdirSync(config.root, { recursive: true, mode: 0o700 });
  mkdirSync(config.state_dir, { recursive: true, mode: 0o711 });
  const paths = new Paths(config.root, config.state_dir);
  const lock: RootLock = acquireRootLock(config.root);
  restrictRootDir(config.root, config.state_dir);
  let store: StateStore | undefined;
  let listener: SocketListener | undefined;
  let server: CriServer | undefined;
  try {
    store = StateStore.open(paths.stateDb);
    phase('state');
    const prometheus = config.metrics.enabled ? await loadRuntimeMetrics() : undefined;
    const metrics = prometheus ?? noMetrics;
    const network = new CniNetwork({
      confDir: config.network.conf_dir, binDirs: config.network.bin_dirs, cacheDir: config.network.cache_dir, log: log.child({ module: 'cni' }),
      onOperation: (operation, seconds, failed) => metrics.cniOperation(operation, seconds, failed),
    });
    // Unpacking is CPU-bound: more workers than cores would only take turns.
    const storage = new Storage(config.root, { log: log.child({ module: 'storage' }), unpackWorkers: Math.min(availableParallelism(), config.image.max_concurrent_downloads) });
    const events = new ContainerEventBus({ capacity: 1000, log: log.child({ module: 'events' }), onDrop: () => metrics.eventDropped() });
    const runtimeHandlers = new RuntimeHandlers({ config, paths, log: log.child({ module: 'handlers' }) });
    const oomRestriction = detectOomScoreRestriction(config.runtime.restrict_oom_score_adj);
    // In dependency order: a pod's stop and removal take its containers along, and a
    // container's creation reads its pod.
    const containers = new ContainerLifecycle({
      config, paths, store, log: log.child({ module: 'container' }), storage, oomRestriction, runtimes: runtimeHandlers, events, metrics,
      imageVolumesReleased: (imageIds) => images.imageVolumesReleased(imageIds),
    });
    const images = new ImageService({ config, state: store, storage, log: log.child({ module: 'image' }), metrics });
    const pods = new SandboxService({ config, paths, store, log, network, cgroups: new CgroupManager(hostCgroupLayout()), runtimeHandlers, containers, images, storage });
    const containerCreator = containers.creator({ pods, images });
    const services: Services = {
      config,
      version: packageVersion(),
      log,
      store,
      oomRestriction,
      runtimeReadiness: () => runtimeHandlers.readiness(),
      network,
      pods,
      storage,
      images,
      containers,
      containerCreator,
      podCheckpoints: containers.podCheckpoints({ pods, creator: containerCreator }),
      metrics,
      events,
      runtimeHandlers,
      streaming: new LazyStreaming({ config, log, lookups: streamingLookups(containers, pods) }),
      stats: new StatsService({
        cgroups: new CgroupManager(hostCgroupLayout()), metrics, events, includedPodMetrics: config.metrics.included_pod_metrics,
        pods,
        containers: containerStatsSource(containers, (id) => storage.upperDirOf(id), hostCgroupLayout().version),
      }),
    };
    events.setSnapshotter(eventSnapshotter(services));
    phase('services');
    server = createCriServer(services, log);
    listener = await listenOnSocket(config.socket, server.grpc, log);
    phase('listen');
    await storage.init();
    phase('storage');
    // A handler whose binary was probed at an earlier start serves with that result; the probes
    // run again once the daemon answers (pods for a handler never probed wait for it).
    runtimeHandlers.useCached();
    await services.images.recover();
    phase('images');
    await services.pods.recover();
    phase('pods');
    await services.containers.recover();
    await removeUnrecorded(services, paths, log);
    phase('containers');
    const metricsEndpoint = prometheus ? await startMetricsEndpoint(prometheus.registry, config.metrics.address, config.metrics.port, log) : undefined;
    server.setReady();
    // What can wait until calls are answered: each handler's probe (a container run), CNI
    // CHECK of the recovered pods, and the garbage collection of unused layers and blobs. Each
    // spawns programs, which holds the event loop: the kubelet's first calls after a restart
    // go first, unless a handler was never probed (its pods wait for that).
    const background = (what: string, task: () => Promise<void>) => task().catch((err: unknown) => log.warn({ err: messageOf(err) }, `${what} failed`));
    const probingNow = runtimeHandlers.list().some((h) => h.probe.source === 'none');
    if (probingNow) void background('probing the runtime handlers', () => runtimeHandlers.probe());
    if (LazyStreaming.configuredByOperator(config.streaming)) void background('starting the streaming server', () => services.streaming.startNow());
    const afterStart = setTimeout(() => {
      void background('checking the networks of recovered pods', () => services.pods.checkRecoveredNetworks());
      void background('collecting unused layers', () => services.images.gc());
      if (!probingNow) void background('probing the runtime handlers', () => runtimeHandlers.probe());
    }, BACKGROUND_DELAY_MS);
    afterStart.unref();
    phases.total = Math.round(performance.now());
    log.info({ socket: config.socket, root: config.root, version: services.version, startMs: phases }, 'runcri is serving');
    const missing = missingNativeHelpers(config.runtime);
    if (Object.keys(missing).length > 0) log.warn({ missing }, 'native helpers are not built (make builds them): runcri runs without them, slower or refusing some requests');
    const running = { server, listener, store };
    return {
      services,
      stop: async () => {
        clearTimeout(afterStart);
        services.images.stop();
        runtimeHandlers.close();
        await runtimeHandlers.settle();
        await services.streaming.stop();
        // open GetContainerEvents streams would otherwise hold shutdown for the whole grace period
        events.close();
        await metricsEndpoint?.close();
        await storage.close();
        // After the last call: a pod removed by one still in flight must not find its namespace directory gone.
        return stopDaemon(running, config, lock, log, () => pods.close());
      },
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
  afterCalls: () => Promise<void>,
): Promise<void> {
  const { server, listener, store } = running;
  await listener.close();
  const deadline = Date.now() + config.shutdown_grace_ms;
  while (server.inflight.count > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (server.inflight.count > 0) log.warn({ inflight: server.inflight.count }, 'shutting down with calls still in flight');
  server.grpc.forceShutdown();
  await afterCalls().catch((err: unknown) => log.warn({ err: messageOf(err) }, 'cleaning up at stop failed'));
  store.close();
  lock.release();
  log.info('runcri stopped');
}
