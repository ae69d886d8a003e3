import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { InvalidArgumentError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { SPDY_PORT_FORWARD_PROTOCOL, SPDY_REMOTE_COMMAND_PROTOCOLS, RemoteCommandProtocol } from './protocol.js';
import { StreamingLimits } from './limits.js';
import { SpdySession } from './spdy/index.js';
import { WsConnection, acceptKey } from './websocket/index.js';
import { WS_REMOTE_COMMAND_PROTOCOLS } from './ws-remote-command.js';
import { WS_PORT_FORWARD_PROTOCOLS } from './ws-port-forward.js';
import { SPDY_TUNNEL_PREFIX, WsByteTunnel } from './ws-spdy-tunnel.js';

export type StreamKind = 'exec' | 'attach' | 'portforward';

/** An upgraded connection, handed to whoever owns the token. */
export type Upgraded =
  | { transport: 'spdy'; protocol: string; session: SpdySession; url: URL }
  | { transport: 'websocket'; protocol: string; conn: WsConnection; url: URL };

export interface StreamingServerOptions<T> {
  address: string;
  port: number;
  idleTimeoutMs: number;
  /** Upgraded connections open at once (default StreamingLimits.connections). */
  maxConnections?: number;
  /** Time a connection has to send its upgrade request (default StreamingLimits.requestTimeoutMs). */
  requestTimeoutMs?: number;
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** Takes the token off the books: what it stood for if it was valid for this kind, else undefined. */
  claim(kind: StreamKind, token: string): T | undefined;
  /** Owns the upgraded connection from here on. */
  onUpgrade(claimed: T, upgraded: Upgraded): void;
  log: Logger;
}

const ROUTE = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/;

/** Header values that may arrive as repeated lines or one comma list, in the client's order. */
function headerList(value: string | string[] | undefined): string[] {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return joined.split(',').map((s) => s.trim()).filter(Boolean);
}

function refuse(socket: Duplex, status: number, text: string, body = text): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * The HTTP(S) server behind the URLs Exec, Attach and PortForward return. It owns the wire:
 * routing, tokens (via `claim`), the upgrade to SPDY/3.1 or WebSocket and the subprotocol
 * negotiation; what runs over the connection is the caller's.
 */
export class StreamingServer<T> {
  private readonly server: Server;
  private readonly sockets = new Set<Socket | Duplex>();
  private readonly upgraded = new Set<Socket>();
  private readonly maxConnections: number;
  private lastRefusalWarning = 0;
  private refusedSinceWarning = 0;

  constructor(private readonly opts: StreamingServerOptions<T>) {
    this.maxConnections = opts.maxConnections ?? StreamingLimits.connections;
    // Before its upgrade a connection is Node's HTTP server's: it must send its request in time,
    // and one that sends nothing at all is dropped after the same delay.
    const requestTimeoutMs = opts.requestTimeoutMs ?? StreamingLimits.requestTimeoutMs;
    const http = { requestTimeout: requestTimeoutMs, headersTimeout: requestTimeoutMs, connectionsCheckingInterval: Math.min(30_000, requestTimeoutMs) };
    if (opts.tls) {
      if (!opts.tls.certFile || !opts.tls.keyFile) throw new InvalidArgumentError('streaming TLS needs both a certificate and a key file');
      this.server = createHttpsServer({
        ...http,
        cert: readFileSync(opts.tls.certFile),
        key: readFileSync(opts.tls.keyFile),
        ...(opts.tls.clientCaFile ? { ca: readFileSync(opts.tls.clientCaFile), requestCert: true, rejectUnauthorized: true } : {}),
      });
    } else {
      this.server = createHttpServer(http);
    }
    this.server.setTimeout(requestTimeoutMs);
    this.server.maxConnections = Math.max(StreamingLimits.sockets, this.maxConnections * 2);
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onPlainRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgradeRequest(req, socket, head));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Upgraded connections open now. */
  get connections(): number {
    return this.upgraded.size;
  }

  get scheme(): 'http' | 'https' {
    return this.opts.tls ? 'https' : 'http';
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.address, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** "host:port" as clients must dial it (IPv6 in brackets). */
  get address(): string {
    const a = this.server.address() as AddressInfo;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  private route(req: IncomingMessage): { kind: StreamKind; token: string; url: URL } | undefined {
    const url = new URL(req.url ?? '/', 'http://streaming');
    const m = ROUTE.exec(url.pathname);
    if (!m) return undefined;
    return { kind: m[1] as StreamKind, token: m[2]!, url };
  }

  private onPlainRequest(req: IncomingMessage, res: ServerResponse): void {
    const r = this.route(req);
    if (!r || this.opts.claim(r.kind, r.token) === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end('this URL needs an upgrade to SPDY/3.1 or WebSocket');
  }

  private onUpgradeRequest(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const r = this.route(req);
    const methodOk = req.method === 'GET' || req.method === 'POST';
    if (!r || !methodOk) {
      refuse(socket, 404, 'Not Found', 'not found');
      return;
    }
    // Checked before the token is taken: a client turned away here may try the same URL again.
    if (this.upgraded.size >= this.maxConnections) {
      this.noteRefusal();
      refuse(socket, 503, 'Service Unavailable', `too many streaming connections are open (the limit is ${this.maxConnections})`);
      return;
    }
    const claimed = this.opts.claim(r.kind, r.token);
    if (claimed === undefined) {
      refuse(socket, 404, 'Not Found', 'not found');
      return;
    }
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    const sock = socket as Socket;
    try {
      if (upgrade === 'websocket') this.upgradeWebSocket(r.kind, claimed, r.url, req, sock, head);
      else if (upgrade === 'spdy/3.1') this.upgradeSpdy(r.kind, claimed, r.url, req, sock, head);
      else refuse(socket, 400, 'Bad Request', `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? '')}`);
    } catch (err) {
      this.opts.log.warn({ err: messageOf(err) }, 'streaming upgrade failed');
      socket.destroy();
    }
  }

  private upgradeSpdy(kind: StreamKind, claimed: T, url: URL, req: IncomingMessage, socket: Socket, head: Buffer): void {
    const offered = headerList(req.headers['x-stream-protocol-version']);
    const supported = kind === 'portforward' ? [SPDY_PORT_FORWARD_PROTOCOL] : SPDY_REMOTE_COMMAND_PROTOCOLS;
    let protocol: string | undefined;
    if (offered.length === 0) protocol = kind === 'portforward' ? SPDY_PORT_FORWARD_PROTOCOL : RemoteCommandProtocol.V1;
    else protocol = offered.find((p) => supported.includes(p));
    if (!protocol) {
      refuse(socket, 403, 'Forbidden', `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server supports ${JSON.stringify(supported)}`);
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    this.keepAliveLimits(socket);
    const session = new SpdySession(socket, 'server', head);
    this.watchSpdy(session);
    this.opts.onUpgrade(claimed, { transport: 'spdy', protocol, session, url });
  }

  private upgradeWebSocket(kind: StreamKind, claimed: T, url: URL, req: IncomingMessage, socket: Socket, head: Buffer): void {
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || req.headers['sec-websocket-version'] !== '13') {
      refuse(socket, 400, 'Bad Request', 'a WebSocket upgrade needs Sec-WebSocket-Key and version 13');
      return;
    }
    const offered = headerList(req.headers['sec-websocket-protocol']);
    const supported = kind === 'portforward' ? [...WS_PORT_FORWARD_PROTOCOLS, SPDY_TUNNEL_PREFIX + SPDY_PORT_FORWARD_PROTOCOL] : WS_REMOTE_COMMAND_PROTOCOLS;
    const protocol = offered.length === 0 ? 'channel.k8s.io' : offered.find((p) => supported.includes(p));
    if (!protocol) {
      refuse(socket, 403, 'Forbidden', `unable to negotiate a subprotocol: client supports ${JSON.stringify(offered)}, server supports ${JSON.stringify(supported)}`);
      return;
    }
    const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey(key)}`];
    if (offered.length > 0) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    this.keepAliveLimits(socket);
    const conn = new WsConnection(socket, 'server', head);
    conn.on('protocol-error', (err: unknown) => this.opts.log.warn({ err: messageOf(err) }, 'WebSocket streaming connection ended: bad or oversized input'));
    if (protocol.startsWith(SPDY_TUNNEL_PREFIX)) {
      // SPDY inside the WebSocket: from here on it is the SPDY port-forward protocol.
      const session = new SpdySession(new WsByteTunnel(conn) as unknown as Socket, 'server');
      this.watchSpdy(session);
      this.opts.onUpgrade(claimed, { transport: 'spdy', protocol: protocol.slice(SPDY_TUNNEL_PREFIX.length), session, url });
      return;
    }
    this.opts.onUpgrade(claimed, { transport: 'websocket', protocol, conn, url });
  }

  /** One warning a minute at most, with the count since the last: refusals come in floods. */
  private noteRefusal(): void {
    this.refusedSinceWarning++;
    const now = Date.now();
    if (now - this.lastRefusalWarning < 60_000) return;
    this.opts.log.warn({ limit: this.maxConnections, refused: this.refusedSinceWarning }, 'streaming connections refused: too many open');
    this.lastRefusalWarning = now;
    this.refusedSinceWarning = 0;
  }

  private watchSpdy(session: SpdySession): void {
    session.on('protocol-error', (err: unknown) => this.opts.log.warn({ err: messageOf(err) }, 'SPDY streaming connection ended: bad or oversized input'));
  }

  /** An upgraded connection counts against the limit until its socket closes, and goes when idle. */
  private keepAliveLimits(socket: Socket): void {
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    socket.setTimeout(this.opts.idleTimeoutMs, () => socket.destroy());
  }
}
