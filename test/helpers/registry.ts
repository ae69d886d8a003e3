/**
 * A real docker-registry on loopback for tests: plain, behind a Basic-auth front, or with
 * token auth backed by a tiny token server here. Started and stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { get as httpsGet } from 'node:https';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { randomBytes, sign } from 'node:crypto';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** Serve an existing storage folder (e.g. push through a plain registry, serve with auth). */
  storageDir?: string;
  auth?: { kind: 'basic' | 'token'; users: Credentials[] };
  /** Serve HTTPS with a fresh self-signed certificate for 127.0.0.1 (no plain HTTP). */
  tls?: boolean;
}

function selfSignedCertificate(workDir: string): { certPath: string; keyPath: string } {
  const keyPath = join(workDir, 'tls-key.pem');
  const certPath = join(workDir, 'tls-cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { certPath, keyPath };
}

/** HTTP status of GET /v2/ on the registry itself; its certificate is ours, so not verified. */
async function probeStatus(port: number, tls: boolean): Promise<number> {
  if (!tls) {
    const res = await fetch(`http://127.0.0.1:${port}/v2/`);
    await res.arrayBuffer();
    return res.status;
  }
  return new Promise((resolve, reject) => {
    httpsGet({ host: '127.0.0.1', port, path: '/v2/', rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function basicUser(header: string | undefined, users: Credentials[]): Credentials | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  return users.find((u) => `${u.username}:${u.password}` === decoded);
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export class TestRegistry {
  private constructor(
    /** host:port clients use (the auth front when there is one). */
    readonly host: string,
    /** The registry itself, without the Basic front (for pushing). */
    readonly directHost: string,
    /** "scope user" of each token request, for assertions. */
    readonly tokenRequests: string[],
    /** The token endpoint, when the registry uses token auth. */
    readonly tokenRealm: string | undefined,
    readonly storageDir: string,
    private readonly workDir: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    private readonly fronts: Server[],
    private readonly ownsStorage: boolean,
  ) {}

  static async start(options: RegistryOptions = {}): Promise<TestRegistry> {
    const workDir = mkdtempSync('/tmp/rct-registry-');
    const storageDir = options.storageDir ?? join(workDir, 'storage');
    const port = await freePort();
    const fronts: Server[] = [];
    const tokenRequests: string[] = [];
    let authYaml = '';
    let tokenRealm: string | undefined;
    let publicPort = port;
    if (options.auth?.kind === 'token') {
      const { server, port: tokenPort } = await startTokenServer(workDir, options.auth.users, tokenRequests);
      fronts.push(server);
      tokenRealm = `http://127.0.0.1:${tokenPort}/token`;
      authYaml = `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: runcri-test-registry\n    issuer: runcri-test-issuer\n    rootcertbundle: ${join(workDir, 'cert.pem')}\n`;
    }
    let tlsYaml: string[] = [];
    if (options.tls) {
      const { certPath, keyPath } = selfSignedCertificate(workDir);
      tlsYaml = ['  tls:', `    certificate: ${certPath}`, `    key: ${keyPath}`];
    }
    const configPath = join(workDir, 'config.yml');
    writeFileSync(configPath, [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomBytes(8).toString('hex')}`,
      ...tlsYaml,
      authYaml,
    ].join('\n'));
    const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (options.auth?.kind === 'basic') {
      const proxy = basicFront(port, options.auth.users);
      publicPort = await listen(proxy);
      fronts.push(proxy);
    }
    const registry = new TestRegistry(`127.0.0.1:${publicPort}`, `127.0.0.1:${port}`, tokenRequests, tokenRealm, storageDir, workDir, child, exited, fronts, !options.storageDir);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const status = await probeStatus(port, options.tls === true);
        if (status === 200 || status === 401) break;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        await registry.stop();
        throw new Error(`docker-registry did not start: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return registry;
  }

  /** The PEM certificate a TLS registry serves (to make a client trust it); undefined without TLS. */
  get tlsCertificate(): string | undefined {
    const path = join(this.workDir, 'tls-cert.pem');
    return existsSync(path) ? path : undefined;
  }

  /** Path of a blob's data file in the storage folder (to corrupt it on purpose). */
  blobPath(digest: string): string {
    const hex = digest.replace(/^sha256:/, '');
    return join(this.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  }

  async stop(): Promise<void> {
    for (const front of this.fronts) await closeServer(front);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timeout = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timeout);
    rmSync(this.workDir, { recursive: true, force: true });
    if (this.ownsStorage) rmSync(this.storageDir, { recursive: true, force: true });
  }
}

/** A Basic-auth front: docker-registry's own htpasswd needs bcrypt hashes we cannot make here. */
function basicFront(backendPort: number, users: Credentials[]): Server {
  return createServer((req, res) => {
    if (!basicUser(req.headers.authorization, users)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="runcri-test"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const upstream = httpRequest({ host: '127.0.0.1', port: backendPort, path: req.url, method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
}

/** Issues registry JWTs (RS256, certificate in x5c) to users with valid Basic credentials. */
async function startTokenServer(workDir: string, users: Credentials[], log: string[]): Promise<{ server: Server; port: number }> {
  const keyPath = join(workDir, 'key.pem');
  const certPath = join(workDir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=runcri-test-token'], { stdio: 'pipe' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const key = readFileSync(keyPath, 'utf8');
  const certDer = Buffer.from(readFileSync(certPath, 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const issue = (req: IncomingMessage, res: ServerResponse, form: string): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let authorization = req.headers.authorization;
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant: the refresh token is "identity-" + a user name.
      const params = new URLSearchParams(form);
      for (const key of ['service', 'scope']) for (const v of params.getAll(key)) url.searchParams.append(key, v);
      const refresh = params.get('grant_type') === 'refresh_token' ? params.get('refresh_token') ?? '' : '';
      const named = users.find((u) => refresh === `identity-${u.username}`);
      if (named) authorization = `Basic ${Buffer.from(`${named.username}:${named.password}`).toString('base64')}`;
    }
    const user = basicUser(authorization, users);
    log.push(`${url.searchParams.get('scope') ?? ''} ${user ? user.username : 'anonymous'}${req.method === 'POST' ? ' (refresh token)' : ''}`);
    if (!user) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"details":"credentials required"}');
      return;
    }
    const access = url.searchParams.getAll('scope').map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] }));
    const claims = b64url(JSON.stringify({ iss: 'runcri-test-issuer', sub: user.username, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
    const jwt = `${header}.${claims}.${b64url(sign('sha256', Buffer.from(`${header}.${claims}`), key))}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    // The OAuth2 endpoint answers access_token; the classic one, token.
    res.end(JSON.stringify(req.method === 'POST' ? { access_token: jwt, expires_in: 300 } : { token: jwt, expires_in: 300 }));
  };
  const server = createServer((req, res) => {
    let form = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { form += c; });
    req.on('end', () => issue(req, res, form));
  });
  const port = await listen(server);
  return { server, port };
}

export interface FrontBehaviour {
  /** Blob bodies are sent at about this rate (bytes per second); unlimited when unset. */
  bytesPerSecond?: number;
  /** Blob bodies stop after this many bytes and the connection then hangs. */
  stallAfterBytes?: number;
  /** This many blob requests are answered 503 before blobs are served again. */
  failBlobRequests?: number;
}

/**
 * A pass-through front for a registry that counts blob requests and can slow or stall blob
 * bodies, to test deduplication, stall timeouts and cancellation.
 */
export class ControlledFront {
  readonly blobRequests = new Map<string, number>();
  behaviour: FrontBehaviour = {};

  private constructor(readonly host: string, private readonly server: Server) {}

  static async start(backendHost: string): Promise<ControlledFront> {
    const [backend, portText] = backendHost.split(':') as [string, string];
    let front: ControlledFront | undefined;
    const server = createServer((req, res) => {
      const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
      const isBlobGet = req.method === 'GET' && blob !== null;
      if (isBlobGet) front!.blobRequests.set(blob[1]!, (front!.blobRequests.get(blob[1]!) ?? 0) + 1);
      if (isBlobGet && (front!.behaviour.failBlobRequests ?? 0) > 0) {
        front!.behaviour.failBlobRequests!--;
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('try again later');
        return;
      }
      const upstream = httpRequest({ host: backend, port: Number(portText), path: req.url, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (!isBlobGet || up.statusCode !== 200) {
          up.pipe(res);
          return;
        }
        void shape(up, res, front!.behaviour);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    const port = await listen(server);
    front = new ControlledFront(`127.0.0.1:${port}`, server);
    return front;
  }

  count(digest: string): number {
    return this.blobRequests.get(digest) ?? 0;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}

async function shape(up: NodeJS.ReadableStream, res: NodeJS.WritableStream & { destroyed?: boolean }, behaviour: FrontBehaviour): Promise<void> {
  let sent = 0;
  for await (const raw of up) {
    let chunk = raw as Buffer;
    if (behaviour.stallAfterBytes !== undefined && sent + chunk.length > behaviour.stallAfterBytes) {
      chunk = chunk.subarray(0, Math.max(0, behaviour.stallAfterBytes - sent));
      if (chunk.length > 0) res.write(chunk);
      // Hang: headers and some bytes sent, then silence until the client gives up.
      return;
    }
    if (res.destroyed) return;
    for (let offset = 0; offset < chunk.length; offset += 16 * 1024) {
      const piece = chunk.subarray(offset, offset + 16 * 1024);
      res.write(piece);
      sent += piece.length;
      if (behaviour.bytesPerSecond) await new Promise((r) => setTimeout(r, (piece.length / behaviour.bytesPerSecond!) * 1000));
      if (res.destroyed) return;
    }
  }
  res.end();
}
