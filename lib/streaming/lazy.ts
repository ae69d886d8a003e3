import { UnavailableError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { CommandRequest } from './command-streams.js';
import type { StreamingService, StreamingServiceOptions } from './service.js';

/**
 * The streaming server, loaded and started on the first Exec, Attach or PortForward: its
 * SPDY, WebSocket and session code is a fifth of the daemon's modules, which a node whose
 * kubelet never streams would load and keep for nothing, and a restart would wait for.
 */
export class LazyStreaming {
  private service: StreamingService | undefined;
  private starting: Promise<StreamingService> | undefined;
  private stopped = false;

  constructor(private readonly opts: StreamingServiceOptions & { log: Logger }) {}

  private running(): Promise<StreamingService> {
    if (this.service) return Promise.resolve(this.service);
    if (this.stopped) return Promise.reject(new UnavailableError('runcri is stopping'));
    this.starting ??= (async () => {
      const { StreamingService: Service } = await import('./service.js');
      const service = new Service(this.opts);
      await service.start();
      this.service = service;
      return service;
    })();
    // A failed start (the port taken) is tried again by the next call.
    this.starting.catch(() => { this.starting = undefined; });
    return this.starting;
  }

  /**
   * Starts the server now, without waiting for a stream request: a node whose operator chose
   * the port or TLS files learns at start, in the log, that they do not work.
   */
  async startNow(): Promise<void> {
    await this.running();
  }

  /** Whether the settings are the operator's own (a fixed port, TLS) rather than the defaults. */
  static configuredByOperator(streaming: { port: number; tls_cert_file: string; tls_key_file: string }): boolean {
    return streaming.port !== 0 || streaming.tls_cert_file !== '' || streaming.tls_key_file !== '';
  }

  async exec(containerId: string, cmd: string[], req: CommandRequest): Promise<string> {
    return (await this.running()).exec(containerId, cmd, req);
  }

  async attach(containerId: string, req: CommandRequest): Promise<string> {
    return (await this.running()).attach(containerId, req);
  }

  async portForward(podId: string, ports: number[]): Promise<string> {
    return (await this.running()).portForward(podId, ports);
  }

  /** host:port of the server; empty until the first stream request starts it. */
  get address(): string {
    return this.service?.address ?? '';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const service = this.service ?? (await this.starting?.catch(() => undefined));
    await service?.stop();
  }
}
