import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { FailedPreconditionError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { filterAuthority } from './h2-authority-filter.js';

export interface SocketListener {
  close(): Promise<void>;
}

/** Is something answering on this Unix socket? (A live daemon, not a stale file.) */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * runcri's own socket: a `net` server whose connections pass through the :authority filter
 * into grpc-js, so clients that send the socket path as :authority get through. The socket
 * is root-only (0660); a stale file from a crash is replaced.
 */
export async function listenOnSocket(path: string, server: grpc.Server, log: Logger): Promise<SocketListener> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) throw new FailedPreconditionError(`${path} exists and is not a socket`);
    if (await socketAnswers(path)) throw new FailedPreconditionError(`another daemon is serving ${path}`);
    unlinkSync(path);
  }
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = net.createServer((socket) => {
    socket.on('error', (err) => log.debug({ err: err.message }, 'client connection error'));
    const onProtocolError = (err: Error) => log.warn({ err: err.message }, 'CRI client connection dropped: malformed or oversized HTTP/2 headers');
    injector.injectConnection(filterAuthority(socket, { onProtocolError }));
  });
  const oldMask = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(path, () => {
        listener.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(path, 0o660);
  listener.on('error', (err) => log.error({ err: err.message }, 'socket listener error'));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        listener.close(() => resolve());
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }),
  };
}
