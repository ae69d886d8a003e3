/** Messages between the unpack pool (daemon thread) and an unpack worker thread. */
import {
  CancelledError, DeadlineExceededError, FailedPreconditionError, InternalError, ResourceExhaustedError, RuntimeError, isRuntimeError, messageOf,
} from '../errors/index.js';
import type { Compression } from './decompress.js';
import { TarFormatError } from './tar-reader.js';
import { LayerWriteError, UnsafeLayerEntryError, type UnpackStats } from './unpack.js';

export type ToWorker =
  | { op: 'start'; job: number; dir: string; compression: Compression }
  /** Compressed layer bytes, in order. */
  | { op: 'data'; job: number; chunk: Uint8Array }
  | { op: 'end'; job: number }
  /** Stop: the worker answers `failed` once nothing more will be written. */
  | { op: 'abort'; job: number };

export interface WireError {
  name: string;
  message: string;
}

export type FromWorker =
  /** Compressed bytes the worker has taken in: the daemon may send that much more. */
  | { op: 'ack'; job: number; bytes: number }
  | { op: 'done'; job: number; stats: UnpackStats }
  | { op: 'failed'; job: number; error: WireError };

const KNOWN: Record<string, new (message: string) => RuntimeError> = {
  TarFormatError,
  UnsafeLayerEntryError,
  LayerWriteError,
  FailedPreconditionError,
  CancelledError,
  DeadlineExceededError,
  ResourceExhaustedError,
};

export function toWire(err: unknown): WireError {
  return { name: isRuntimeError(err) ? err.name : 'InternalError', message: messageOf(err) };
}

/** The domain error a worker reported, as the class it was thrown as. */
export function fromWire(error: WireError): RuntimeError {
  const Known = KNOWN[error.name];
  return Known ? new Known(error.message) : new InternalError(error.message);
}
