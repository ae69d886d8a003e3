/**
 * What the rest of runcri records into. Behind it is the Prometheus registry when the metrics
 * endpoint is enabled, and nothing otherwise: prom-client is then never loaded, which keeps
 * about 10 MiB off an idle daemon that nobody scrapes.
 */

/** How many pods and containers are in each state, read at scrape time. */
export interface StateCounts {
  pods: Record<string, number>;
  containers: Record<string, number>;
}

export interface MetricsRecorder {
  /** Where scrape-time gauges read from; set by the stats service once it is built. */
  setSources(sources: { stateCounts: () => StateCounts; subscriberCount: () => number }): void;
  /** `code` is the call's gRPC status code. */
  observeRpc(method: string, code: number, seconds: number): void;
  imagePullBytes(bytes: number): void;
  imagePullDone(seconds: number): void;
  /** `reason`: a short fixed word, never a message. */
  imagePullFailed(reason: string): void;
  imageLayers(reused: number, fetched: number): void;
  containerOomKilled(): void;
  cniOperation(operation: 'ADD' | 'DEL' | 'CHECK', seconds: number, failed: boolean): void;
  eventDropped(): void;
}

const ignore = (): void => undefined;

/** The recorder when metrics are off. */
export const noMetrics: MetricsRecorder = {
  setSources: ignore,
  observeRpc: ignore,
  imagePullBytes: ignore,
  imagePullDone: ignore,
  imagePullFailed: ignore,
  imageLayers: ignore,
  containerOomKilled: ignore,
  cniOperation: ignore,
  eventDropped: ignore,
};
