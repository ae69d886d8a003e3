import { FailedPreconditionError, InvalidArgumentError } from '../errors/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { CommandRequest, CommandStreams } from './command-streams.js';
import { TokenStore } from './tokens.js';
import { ForwardSlots } from './forward-slots.js';
import { StreamingServer, type StreamKind, type Upgraded } from './server.js';
import { acceptSpdyCommand } from './spdy-remote-command.js';
import { servePortForward } from './spdy-port-forward.js';
import { wsCommandStreams } from './ws-remote-command.js';
import { serveWsPortForward } from './ws-port-forward.js';
import { runAttachSession, runExecSession } from './sessions.js';
import type { Attachment, ExecProcess } from '../oci/index.js';

/** What streaming needs to know about a container, from whoever keeps containers. */
export interface StreamContainer {
  id: string;
  podId: string;
  running: boolean;
  /** Created with stdin open; with a terminal. */
  stdin: boolean;
  tty: boolean;
  /** Starts a process in the container. */
  exec(cmd: string[], tty: boolean): Promise<ExecProcess>;
  /** Connects to the container's own stdio. */
  attach(): Promise<Attachment>;
}

export interface StreamPod {
  id: string;
  ready: boolean;
  /** The pinned network namespace; absent for a host-network pod. */
  netnsPath?: string;
}

/** Lookups that throw NotFoundError for an unknown ID. */
export interface StreamingLookups {
  container(id: string): StreamContainer;
  pod(id: string): StreamPod;
}

type Pending =
  | { kind: 'exec'; containerId: string; cmd: string[]; req: CommandRequest }
  | { kind: 'attach'; containerId: string; req: CommandRequest }
  | { kind: 'portforward'; podId: string; ports: number[] };

export interface StreamingServiceOptions {
  config: Config;
  log: Logger;
  lookups: StreamingLookups;
}

const TOKEN_TTL_MS = 60_000;
const MAX_OUTSTANDING = 1000;

/**
 * Exec, Attach and PortForward: validates the request, parks it behind a single-use token and
 * returns the URL; the client's connection to that URL runs it.
 */
export class StreamingService {
  private readonly tokens = new TokenStore<Pending>({ ttlMs: TOKEN_TTL_MS, maxOutstanding: MAX_OUTSTANDING });
  private readonly forwardSlots = new ForwardSlots();
  private readonly server: StreamingServer<Pending>;
  private readonly creationTimeoutMs: number;
  private readonly log: Logger;

  constructor(private readonly opts: StreamingServiceOptions) {
    const s = opts.config.streaming;
    this.log = opts.log.child({ module: 'streaming' });
    this.creationTimeoutMs = s.stream_creation_timeout_seconds * 1000;
    this.server = new StreamingServer({
      address: s.address,
      port: s.port,
      idleTimeoutMs: s.stream_idle_timeout_seconds * 1000,
      tls: s.tls_cert_file || s.tls_key_file ? { certFile: s.tls_cert_file, keyFile: s.tls_key_file, clientCaFile: s.tls_client_ca_file || undefined } : undefined,
      claim: (kind, token) => {
        const pending = this.tokens.consume(token);
        return pending?.kind === kind ? pending : undefined;
      },
      onUpgrade: (pending, upgraded) => this.onUpgrade(pending, upgraded),
      log: this.log,
    });
  }

  async start(): Promise<void> {
    await this.server.listen();
    this.log.info({ address: this.address }, 'streaming server listening');
  }

  stop(): Promise<void> {
    return this.server.close();
  }

  /** host:port of the server, for Status and the URLs. */
  get address(): string {
    return this.server.address;
  }

  private url(kind: StreamKind, pending: Pending): string {
    return `${this.server.scheme}://${this.address}/${kind}/${this.tokens.issue(pending)}`;
  }

  exec(containerId: string, cmd: string[], req: CommandRequest): string {
    if (cmd.length === 0) throw new InvalidArgumentError('cmd must not be empty');
    this.checkCommandRequest(req);
    this.runningContainer(containerId);
    return this.url('exec', { kind: 'exec', containerId, cmd, req });
  }

  attach(containerId: string, req: CommandRequest): string {
    this.checkCommandRequest(req);
    this.runningContainer(containerId);
    return this.url('attach', { kind: 'attach', containerId, req });
  }

  portForward(podId: string, ports: number[]): string {
    for (const p of ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new InvalidArgumentError(`invalid port ${p}`);
    const pod = this.opts.lookups.pod(podId);
    if (!pod.ready) throw new FailedPreconditionError(`pod sandbox ${pod.id} is not ready`);
    return this.url('portforward', { kind: 'portforward', podId: pod.id, ports });
  }

  private checkCommandRequest(req: CommandRequest): void {
    if (!req.stdin && !req.stdout && !req.stderr) throw new InvalidArgumentError('one of stdin, stdout or stderr must be requested');
    if (req.tty && req.stderr) throw new InvalidArgumentError('tty and stderr cannot both be true');
  }

  private runningContainer(id: string): StreamContainer {
    const c = this.opts.lookups.container(id);
    if (!c.running) throw new FailedPreconditionError(`container ${c.id} is not running`);
    const pod = this.opts.lookups.pod(c.podId);
    if (!pod.ready) throw new FailedPreconditionError(`pod sandbox ${pod.id} of container ${c.id} is not ready`);
    return c;
  }

  private onUpgrade(pending: Pending, upgraded: Upgraded): void {
    void this.run(pending, upgraded).catch((err: Error) => {
      this.log.warn({ kind: pending.kind, err: err.message }, 'streaming session failed');
      if (upgraded.transport === 'spdy') upgraded.session.close();
      else upgraded.conn.close(1011, 'internal error');
    });
  }

  private async run(pending: Pending, upgraded: Upgraded): Promise<void> {
    if (pending.kind === 'portforward') {
      const pod = this.opts.lookups.pod(pending.podId);
      const network = { netnsPath: pod.netnsPath };
      const log = this.log.child({ pod: pod.id });
      if (upgraded.transport === 'spdy') {
        servePortForward(upgraded.session, { network, podId: pod.id, streamCreationTimeoutMs: this.creationTimeoutMs, slots: this.forwardSlots, log });
      } else {
        serveWsPortForward(upgraded.conn, upgraded.protocol, portsFromQuery(upgraded.url) ?? pending.ports, network, pod.id, this.forwardSlots, log);
      }
      return;
    }
    const command = pending.kind === 'exec' ? pending.cmd : [];
    const streams: CommandStreams = upgraded.transport === 'spdy'
      ? await acceptSpdyCommand(upgraded.session, upgraded.protocol, pending.req, this.creationTimeoutMs, command)
      : wsCommandStreams(upgraded.conn, upgraded.protocol, pending.req, command);
    let container: StreamContainer;
    try {
      container = this.runningContainer(pending.containerId);
    } catch (err) {
      await streams.finish({ error: (err as Error).message });
      return;
    }
    const log = this.log.child({ container: container.id });
    if (pending.kind === 'exec') {
      await runExecSession(container, pending.cmd, pending.req, streams, log);
    } else {
      await runAttachSession(container, { ...pending.req, containerStdin: container.stdin }, streams, log);
    }
  }
}

/** `?ports=80&ports=443` or `?ports=80,443`, as Kubernetes' WebSocket clients send them. */
function portsFromQuery(url: URL): number[] | undefined {
  const raw = url.searchParams.getAll('ports').flatMap((v) => v.split(','));
  if (raw.length === 0) return undefined;
  const ports = raw.map((p) => Number(p.trim()));
  return ports.every((p) => Number.isInteger(p) && p > 0 && p < 65536) ? ports : undefined;
}
