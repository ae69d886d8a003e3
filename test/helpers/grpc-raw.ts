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
