import * as grpc from '@grpc/grpc-js';
import { CancelledError, InternalError, isRuntimeError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { Services } from '../daemon/services.js';
import type { CallContext, StreamHandler, UnaryHandler } from './context.js';
import { CODE_OF_KIND } from './status-codes.js';
import { UndecodableRequest } from './request-check.js';

/** Request fields that name the object an RPC is about; copied onto its log lines. */
const ID_FIELDS = ['pod_sandbox_id', 'container_id'] as const;

function idsOf(request: unknown): Record<string, string> {
  const ids: Record<string, string> = {};
  if (request && typeof request === 'object') {
    for (const field of ID_FIELDS) {
      const value = (request as Record<string, unknown>)[field];
      if (typeof value === 'string' && value) ids[field] = bounded(value, MAX_LOGGED_ID_BYTES);
    }
  }
  return ids;
}

/** An ID longer than this is not one: its log lines keep only the start. */
const MAX_LOGGED_ID_BYTES = 128;
/**
 * Error messages often quote the request (a name, a path); a client's metadata limit is small
 * (grpc-js accepts 8 KiB of trailers by default), and a status too big to send would leave the
 * call without one. The message keeps its start and says how much was cut.
 */
const MAX_DETAILS_BYTES = 2048;

function bounded(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  // toString drops a character cut in half at the end as U+FFFD: harmless in a message.
  return `${bytes.subarray(0, maxBytes).toString()}… (${bytes.length - maxBytes} more bytes)`;
}

function toServiceError(err: unknown): grpc.ServiceError & { unexpected: boolean } {
  const unexpected = !isRuntimeError(err);
  const code = isRuntimeError(err) ? CODE_OF_KIND[err.kind] : grpc.status.INTERNAL;
  const details = bounded(messageOf(err), MAX_DETAILS_BYTES);
  const error = Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata(), unexpected });
  return error;
}

function undecodable(request: unknown): grpc.ServiceError | undefined {
  if (!(request instanceof UndecodableRequest)) return undefined;
  const details = bounded(request.reason, MAX_DETAILS_BYTES);
  return { name: 'Error', message: details, code: grpc.status.INVALID_ARGUMENT, details, metadata: new grpc.Metadata() };
}

export interface Instrumentation {
  services: Services;
  log: Logger;
  /** False until recovery at start has finished; calls meanwhile get UNAVAILABLE. */
  isReady: () => boolean;
  /** Counts calls in flight, so shutdown can wait for them. */
  inflight: { count: number };
}

interface CallSignal {
  signal: AbortSignal;
  /** Stops listening once the call is answered: grpc-js also reports the close of a stream it already answered as a cancellation. */
  release: () => void;
}

function callSignal(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): CallSignal {
  const controller = new AbortController();
  // A CancelledError: what the work under way throws once it notices is answered CANCELLED
  // and logged as the client's doing, not as a failure of the daemon.
  const onCancelled = () => controller.abort(new CancelledError('call cancelled by the client'));
  call.once('cancelled', onCancelled);
  return { signal: controller.signal, release: () => call.removeListener('cancelled', onCancelled) };
}

/**
 * The one wrapper around every RPC: readiness, a request log line with the duration and
 * gRPC code, and the mapping from domain errors to status codes. Anything unexpected is
 * logged with its stack and answered INTERNAL; it never reaches the process.
 */
export function instrumentUnary<Req, Res>(name: string, handler: UnaryHandler<Req, Res>, inst: Instrumentation): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const log = inst.log.child({ rpc: name, ...idsOf(call.request) });
    let release = (): void => undefined;
    const finish = (err: grpc.ServiceError | null, unexpected: boolean, response?: Res) => {
      release();
      inst.inflight.count--;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const code = err ? err.code : grpc.status.OK;
      inst.services.metrics?.observeRpc(name, code, ms / 1000);
      if (err) {
        if (unexpected) log.error({ ms, code: grpc.status[code], err: err.stack }, 'rpc failed unexpectedly');
        else log.info({ ms, code: grpc.status[code], error: err.details }, 'rpc failed');
      } else if (log.isLevelEnabled('debug')) {
        log.debug({ ms, code: 'OK' }, 'rpc');
      }
      callback(err, response);
    };
    inst.inflight.count++;
    if (!inst.isReady()) {
      finish({ name: 'Error', message: 'runcri is starting', code: grpc.status.UNAVAILABLE, details: 'runcri is starting', metadata: new grpc.Metadata() }, false);
      return;
    }
    const refused = undecodable(call.request);
    if (refused) {
      finish(refused, false);
      return;
    }
    const cancellation = callSignal(call);
    release = cancellation.release;
    const ctx: CallContext = { services: inst.services, signal: cancellation.signal, log };
    let pending: Promise<Res>;
    try {
      pending = Promise.resolve(handler(call.request, ctx));
    } catch (err) {
      pending = Promise.reject(err);
    }
    // What the call changed is on disk before it answers, whether it succeeded or not (a
    // failed call may have recorded its undoing).
    const answerWhenDurable = (answer: () => void): void => {
      inst.services.store.durable().then(answer, (err: unknown) => {
        const serviceError = toServiceError(new InternalError(`the state change could not be written to disk: ${messageOf(err)}`));
        finish(serviceError, true);
      });
    };
    pending.then(
      (response) => answerWhenDurable(() => finish(null, false, response)),
      (err: unknown) => {
        const serviceError = toServiceError(err);
        if (serviceError.unexpected && err instanceof Error) serviceError.stack = err.stack;
        answerWhenDurable(() => finish(serviceError, serviceError.unexpected));
      },
    );
  };
}

export function instrumentStream<Req, Res>(name: string, handler: StreamHandler<Req, Res>, inst: Instrumentation): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const log = inst.log.child({ rpc: name });
    if (!inst.isReady()) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'runcri is starting' });
      return;
    }
    const refused = undecodable(call.request);
    if (refused) {
      log.info({ code: 'INVALID_ARGUMENT', error: refused.details }, 'rpc failed');
      call.emit('error', refused);
      return;
    }
    const cancellation = callSignal(call);
    const ctx: CallContext = { services: inst.services, signal: cancellation.signal, log };
    const send = (message: Res): boolean => call.write(message);
    const drained = () => new Promise<void>((resolve) => call.once('drain', resolve));
    inst.inflight.count++;
    log.debug('stream opened');
    Promise.resolve()
      .then(() => handler(call.request, ctx, send, drained))
      .then(
        () => call.end(),
        (err: unknown) => {
          const serviceError = toServiceError(err);
          if (serviceError.unexpected) log.error({ err: err instanceof Error ? err.stack : String(err) }, 'stream failed unexpectedly');
          call.emit('error', serviceError);
        },
      )
      .finally(() => {
        cancellation.release();
        inst.inflight.count--;
        log.debug('stream closed');
      });
  };
}

/** What every RPC not built yet answers. */
export function unimplemented(name: string): grpc.handleUnaryCall<unknown, unknown> {
  return (_call, callback) => {
    callback({ name: 'Error', message: `${name} is not implemented by runcri`, code: grpc.status.UNIMPLEMENTED, details: `${name} is not implemented by runcri`, metadata: new grpc.Metadata() });
  };
}

export function unimplementedStream(name: string): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: `${name} is not implemented by runcri` });
  };
}
