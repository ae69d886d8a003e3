import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { killTree } from '../oci/index.js';

/** A TCP connection to a port inside a pod: bytes in, bytes out, and a way to drop it. */
export interface PodConnection {
  input: Writable;
  output: Readable;
  close(): void;
}

export interface PodNetwork {
  /** The pod's pinned network namespace; absent for a host-network pod. */
  netnsPath?: string;
}

export class PortConnectError extends Error {}

/** socat's own line once both ends are open; before it, any exit is a failed connect. */
const SOCAT_CONNECTED = /starting data transfer loop/;

/**
 * Opens localhost:PORT as the pod sees it. A pod with its own network namespace is reached
 * through `nsenter --net` running socat inside it, so the connect happens in the pod and needs
 * no route from the host; a host-network pod's localhost is the node's own.
 */
export function connectToPodPort(network: PodNetwork, port: number, timeoutMs = 10_000): Promise<PodConnection> {
  if (!network.netnsPath) return connectHost(port, timeoutMs);
  const child = spawn('nsenter', [`--net=${network.netnsPath}`, 'socat', '-d', '-d', '-', `TCP:127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined);
  const close = () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) killTree(child.pid);
  };
  return new Promise((resolve, reject) => {
    let log = '';
    let settled = false;
    const timer = setTimeout(() => fail(`connecting to port ${port} timed out`), timeoutMs);
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      close();
      reject(new PortConnectError(why));
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (settled) return;
      log += d;
      if (SOCAT_CONNECTED.test(log)) {
        settled = true;
        clearTimeout(timer);
        resolve({ input: child.stdin, output: child.stdout, close });
      }
    });
    child.once('error', (err) => fail(err.message));
    child.once('close', () => {
      const reason = log.split('\n').find((l) => / E /.test(l))?.replace(/^.* E /, '') ?? `exited before connecting: ${log.trim()}`;
      fail(reason);
    });
  });
}

function connectHost(port: number, timeoutMs: number): Promise<PodConnection> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.setTimeout(0);
      resolve({ input: socket, output: socket, close: () => socket.destroy() });
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new PortConnectError(`connecting to port ${port} timed out`));
    });
    socket.once('error', (err) => reject(new PortConnectError(err.message)));
  });
}
