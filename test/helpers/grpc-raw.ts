import * as http2 from 'node:http2';
import * as net from 'node:net';

/** A gRPC message frame: 1 byte compressed flag, 4 bytes big-endian length, the bytes. */
export function grpcFrame(payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

export interface RawResponse {
  status: number | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  body: Buffer;
}

/**
 * One gRPC call over node:http2 with headers the caller chooses, including `:authority`:
 * what an older CRI client puts on the wire, independent of grpc-js's own choices.
 */
export function rawGrpcCall(socketPath: string, path: string, payload: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const chunks: Buffer[] = [];
    let status: number | undefined;
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      status = Number(h[':status']);
      trailers = { ...h };
    });
    req.on('trailers', (t) => {
      trailers = { ...trailers, ...t };
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err) => {
      session.close();
      reject(err);
    });
    req.on('end', () => {
      session.close();
      resolve({
        status,
        grpcStatus: trailers['grpc-status'] as string | undefined,
        grpcMessage: trailers['grpc-message'] as string | undefined,
        body: Buffer.concat(chunks),
      });
    });
    req.end(grpcFrame(payload));
  });
}

/** How one call on a RawGrpcSession ended. */
export type RawOutcome =
  | { kind: 'status'; httpStatus: number | undefined; grpcStatus: number; grpcMessage: string }
  /** A server stream still open, without a status, after the grace time: cancelled by the caller. */
  | { kind: 'streaming'; httpStatus: number | undefined }
  | { kind: 'hang'; afterMs: number }
  | { kind: 'no-status'; httpStatus: number | undefined; detail: string }
  | { kind: 'dropped'; detail: string };

/**
 * Many raw gRPC calls over one HTTP/2 connection, each with a deadline of its own, that report
 * how they ended instead of throwing: the fuzzer needs to tell a status from a hang from a
 * connection the server closed.
 */
export class RawGrpcSession {
  private session: http2.ClientHttp2Session;
  private closedBy: string | undefined;

  constructor(private readonly socketPath: string) {
    this.session = this.connect();
  }

  private connect(): http2.ClientHttp2Session {
    this.closedBy = undefined;
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(this.socketPath), maxSessionMemory: 1024 });
    session.on('error', (err) => { this.closedBy ??= `session error: ${err.message}`; });
    session.on('goaway', (code) => { this.closedBy ??= `GOAWAY ${code}`; });
    session.on('close', () => { this.closedBy ??= 'connection closed'; });
    return session;
  }

  /** Why the connection ended, if it did (the server must never end it over a bad request). */
  get lost(): string | undefined {
    return this.closedBy;
  }

  /** Opens a fresh connection after one was lost, so one finding does not hide the next. */
  reconnect(): void {
    this.session.destroy();
    this.session = this.connect();
  }

  /**
   * Sends `body` as the whole request body (frames and all: the caller builds them, so framing
   * itself can be wrong). A server stream that has not ended after `streamGraceMs` is
   * cancelled and reported as streaming.
   */
  call(path: string, body: Buffer, options: { timeoutMs: number; serverStream?: boolean; streamGraceMs?: number }): Promise<RawOutcome> {
    const started = Date.now();
    return new Promise((resolve) => {
      let settled = false;
      let httpStatus: number | undefined;
      let headers: http2.IncomingHttpHeaders = {};
      const finish = (outcome: RawOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Only a call still running is cancelled: a reset of a stream the server has already
        // closed counts as an invalid frame there, and too many of those end the connection.
        if (outcome.kind === 'hang' || outcome.kind === 'streaming') req.close(http2.constants.NGHTTP2_CANCEL);
        resolve(outcome);
      };
      let req: http2.ClientHttp2Stream;
      try {
        req = this.session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      } catch (err) {
        resolve({ kind: 'dropped', detail: `cannot open a stream: ${(err as Error).message}` });
        return;
      }
      const timer = setTimeout(() => finish({ kind: 'hang', afterMs: Date.now() - started }), options.timeoutMs);
      const statusFrom = (h: http2.IncomingHttpHeaders): RawOutcome | undefined => {
        const code = h['grpc-status'];
        if (code === undefined) return undefined;
        const message = h['grpc-message'];
        let text = String(message ?? '');
        try {
          text = decodeURIComponent(text);
        } catch {
          // left percent-encoded
        }
        return { kind: 'status', httpStatus, grpcStatus: Number(code), grpcMessage: text };
      };
      // A server stream may send nothing at all until its first message (grpc-js sends headers with it).
      if (options.serverStream) setTimeout(() => finish({ kind: 'streaming', httpStatus }), options.streamGraceMs ?? 150);
      req.on('response', (h) => {
        httpStatus = Number(h[':status']);
        headers = h;
        const trailersOnly = statusFrom(h);
        if (trailersOnly) finish(trailersOnly);
      });
      req.on('trailers', (t) => {
        finish(statusFrom(t) ?? { kind: 'no-status', httpStatus, detail: `trailers without grpc-status: ${JSON.stringify(t)}` });
      });
      req.on('data', () => undefined);
      req.on('error', (err) => {
        finish(this.closedBy ? { kind: 'dropped', detail: `${this.closedBy} (${err.message})` } : { kind: 'no-status', httpStatus, detail: `stream error: ${err.message}` });
      });
      req.on('close', () => {
        if (this.closedBy) finish({ kind: 'dropped', detail: this.closedBy });
        else finish(statusFrom(headers) ?? { kind: 'no-status', httpStatus, detail: `stream closed (code ${req.rstCode}) without a status` });
      });
      req.end(body);
    });
  }

  close(): void {
    this.session.close();
  }
}
