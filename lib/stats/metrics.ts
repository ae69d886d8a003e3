import { readFileSync, readdirSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { MetricsRecorder, StateCounts } from './recorder.js';

export type { StateCounts };

const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const PULL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const CNI_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Zombie processes on the node: children nobody reaped (cri-o's `processes_defunct`). */
export function countDefunct(procRoot = '/proc'): number {
  let count = 0;
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((n) => /^\d+$/.test(n));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
      // the state follows the parenthesised command name, which may itself contain ") "
      if (stat[stat.lastIndexOf(')') + 2] === 'Z') count++;
    } catch {
      // exited while we looked
    }
  }
  return count;
}

/**
 * runcri's Prometheus registry. Other modules record through these methods; the `/metrics`
 * endpoint (off by default) serves `registry`. Names follow the peers: `runcri_*` for the
 * runtime's own, `process_*`/`nodejs_*` for the process.
 */
export class RuntimeMetrics implements MetricsRecorder {
  readonly registry = new Registry();
  private readonly rpcTotal: Counter<'method' | 'code'>;
  private readonly rpcErrors: Counter<'method' | 'code'>;
  private readonly rpcLatency: Histogram<'method'>;
  private readonly pullBytes: Counter;
  private readonly pullDuration: Histogram;
  private readonly pullFailures: Counter<'reason'>;
  private readonly layerReuse: Counter<'outcome'>;
  private readonly oomKills: Counter;
  private readonly cniLatency: Histogram<'operation'>;
  private readonly cniErrors: Counter<'operation'>;
  private readonly eventsDropped: Counter;
  private stateCounts?: () => StateCounts;
  private subscriberCount?: () => number;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.rpcTotal = new Counter({ name: 'runcri_grpc_requests_total', help: 'CRI unary calls handled, by method and gRPC status code.', labelNames: ['method', 'code'], registers });
    this.rpcErrors = new Counter({ name: 'runcri_grpc_errors_total', help: 'CRI unary calls that failed, by method and gRPC status code.', labelNames: ['method', 'code'], registers });
    this.rpcLatency = new Histogram({ name: 'runcri_grpc_request_duration_seconds', help: 'CRI unary call latency by method, in seconds.', labelNames: ['method'], buckets: RPC_BUCKETS, registers });
    this.pullBytes = new Counter({ name: 'runcri_image_pull_bytes_total', help: 'Bytes of image layers and configs downloaded.', registers });
    this.pullDuration = new Histogram({ name: 'runcri_image_pull_duration_seconds', help: 'Time of successful image pulls.', buckets: PULL_BUCKETS, registers });
    this.pullFailures = new Counter({ name: 'runcri_image_pull_failures_total', help: 'Image pulls that failed, by reason.', labelNames: ['reason'], registers });
    this.layerReuse = new Counter({ name: 'runcri_image_layers_total', help: 'Image layers a pull needed, by whether they were already present (reused) or fetched.', labelNames: ['outcome'], registers });
    this.oomKills = new Counter({ name: 'runcri_container_oom_kills_total', help: 'Containers killed by the kernel OOM killer.', registers });
    this.cniLatency = new Histogram({ name: 'runcri_cni_operation_duration_seconds', help: 'CNI plugin operations (ADD, DEL, CHECK) latency.', labelNames: ['operation'], buckets: CNI_BUCKETS, registers });
    this.cniErrors = new Counter({ name: 'runcri_cni_operation_errors_total', help: 'CNI plugin operations that failed.', labelNames: ['operation'], registers });
    this.eventsDropped = new Counter({ name: 'runcri_container_events_dropped_total', help: 'Container events a GetContainerEvents subscriber lost because it was not reading.', registers });

    const self = this;
    new Gauge({
      name: 'runcri_container_event_subscribers', help: 'Open GetContainerEvents streams.', registers,
      collect() { this.set(self.subscriberCount?.() ?? 0); },
    });
    new Gauge({
      name: 'runcri_pods', help: 'Pod sandboxes by state.', labelNames: ['state'], registers,
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(self.stateCounts?.().pods ?? {})) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'runcri_containers', help: 'Containers by state.', labelNames: ['state'], registers,
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(self.stateCounts?.().containers ?? {})) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'runcri_processes_defunct', help: 'Zombie processes on the node.', registers,
      collect() { this.set(countDefunct()); },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Where scrape-time gauges read from; set by the stats service once it is built. */
  setSources(sources: { stateCounts: () => StateCounts; subscriberCount: () => number }): void {
    this.stateCounts = sources.stateCounts;
    this.subscriberCount = sources.subscriberCount;
  }

  observeRpc(method: string, code: grpc.status, seconds: number): void {
    const codeName = grpc.status[code] ?? String(code);
    this.rpcTotal.inc({ method, code: codeName });
    if (code !== grpc.status.OK) this.rpcErrors.inc({ method, code: codeName });
    this.rpcLatency.observe({ method }, seconds);
  }

  /** Bytes as they arrive from a registry (call per chunk or per blob). */
  imagePullBytes(bytes: number): void {
    this.pullBytes.inc(bytes);
  }

  imagePullDone(seconds: number): void {
    this.pullDuration.observe(seconds);
  }

  /** `reason`: a short fixed word (`not_found`, `unauthorized`, `network`, `digest`, `stalled`, `other`), never a message. */
  imagePullFailed(reason: string): void {
    this.pullFailures.inc({ reason });
  }

  imageLayers(reused: number, fetched: number): void {
    if (reused) this.layerReuse.inc({ outcome: 'reused' }, reused);
    if (fetched) this.layerReuse.inc({ outcome: 'fetched' }, fetched);
  }

  containerOomKilled(): void {
    this.oomKills.inc();
  }

  cniOperation(operation: 'ADD' | 'DEL' | 'CHECK', seconds: number, failed: boolean): void {
    this.cniLatency.observe({ operation }, seconds);
    if (failed) this.cniErrors.inc({ operation });
  }

  eventDropped(): void {
    this.eventsDropped.inc();
  }
}
