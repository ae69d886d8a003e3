/**
 * How long a freshly spawned server takes to answer a gRPC call with OK, measured from just
 * before the spawn: the socket is polled every millisecond, then the call is repeated over
 * one HTTP/2 connection until it is answered OK (a starting runcri answers UNAVAILABLE).
 * Raw HTTP/2, not grpc-js: a grpc-js channel that finds no socket backs off for a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';

const EMPTY_MESSAGE = Buffer.alloc(5);

/** One call; resolves with its grpc-status (undefined when the connection failed). */
function call(session: http2.ClientHttp2Session, path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': path, ':authority': 'localhost', 'content-type': 'application/grpc', te: 'trailers' });
    let status: string | undefined;
    req.on('response', (headers) => { status ??= headers['grpc-status'] as string | undefined; });
    req.on('trailers', (t) => { status = t['grpc-status'] as string; });
    req.on('data', () => undefined);
    req.on('error', () => resolve(undefined));
    req.on('close', () => resolve(status));
    req.end(EMPTY_MESSAGE);
  });
}

function connect(socket: string): Promise<http2.ClientHttp2Session | undefined> {
  return new Promise((resolve) => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
    session.once('connect', () => resolve(session));
    session.once('error', () => resolve(undefined));
  });
}

const tick = () => new Promise((r) => setTimeout(r, 1));

export interface FirstAnswer {
  child: ChildProcess;
  /** Milliseconds from the spawn to the first OK answer. */
  ms: number;
}

/** Spawns `argv` and times it to the first OK answer of `path` on `socket`. */
export async function timeToFirstAnswer(argv: string[], socket: string, path: string, timeoutMs = 30_000): Promise<FirstAnswer> {
  const started = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  let exited = false;
  child.once('exit', () => { exited = true; });
  const deadline = Date.now() + timeoutMs;
  let session: http2.ClientHttp2Session | undefined;
  try {
    while (Date.now() < deadline && !exited) {
      if (!session || session.closed || session.destroyed) {
        session = existsSync(socket) ? await connect(socket) : undefined;
        if (!session) {
          await tick();
          continue;
        }
      }
      if ((await call(session, path)) === '0') return { child, ms: Number(process.hrtime.bigint() - started) / 1e6 };
      await tick();
    }
  } finally {
    session?.destroy();
  }
  child.kill('SIGKILL');
  throw new Error(exited ? `${argv.join(' ')} exited before answering` : `no answer within ${timeoutMs} ms`);
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
