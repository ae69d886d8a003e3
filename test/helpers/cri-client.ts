import * as grpc from '@grpc/grpc-js';
import { loadCriProto } from '../../lib/server/proto.js';
import type { RuntimeServiceClient } from '../../lib/generated/runtime/v1/RuntimeService.js';
import type { ImageServiceClient } from '../../lib/generated/runtime/v1/ImageService.js';

type Callback<R> = (err: grpc.ServiceError | null, value?: R) => void;
/** The request and response types of a generated unary method (its last overload). */
type RequestOf<F> = F extends (argument: infer A, callback: Callback<infer _R>) => grpc.ClientUnaryCall ? A : never;
type ResponseOf<F> = F extends (argument: infer _A, callback: Callback<infer R>) => grpc.ClientUnaryCall ? R : never;
type UnaryNames<C> = { [K in keyof C]: K extends string ? (K extends Capitalize<K> ? (RequestOf<C[K]> extends never ? never : K) : never) : never }[keyof C];

export interface CallOptions {
  deadlineMs?: number;
  metadata?: grpc.Metadata;
}

/** A typed promise client for both CRI services over the daemon's Unix socket. */
export class CriClient {
  readonly runtimeClient: RuntimeServiceClient;
  readonly imageClient: ImageServiceClient;

  constructor(readonly socketPath: string, options: grpc.ClientOptions = {}) {
    const proto = loadCriProto().runtime.v1;
    const address = `unix://${socketPath}`;
    const opts = { 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024, ...options };
    this.runtimeClient = new proto.RuntimeService(address, grpc.credentials.createInsecure(), opts) as unknown as RuntimeServiceClient;
    this.imageClient = new proto.ImageService(address, grpc.credentials.createInsecure(), opts) as unknown as ImageServiceClient;
  }

  runtime<M extends UnaryNames<RuntimeServiceClient>>(method: M, request: RequestOf<RuntimeServiceClient[M]>, options: CallOptions = {}): Promise<ResponseOf<RuntimeServiceClient[M]>> {
    return unary(this.runtimeClient, method, request, options);
  }

  image<M extends UnaryNames<ImageServiceClient>>(method: M, request: RequestOf<ImageServiceClient[M]>, options: CallOptions = {}): Promise<ResponseOf<ImageServiceClient[M]>> {
    return unary(this.imageClient, method, request, options);
  }

  /** A server-streaming call, read to its end: every message, in order. */
  runtimeStream<R = unknown>(method: string, request: unknown, options: CallOptions = {}): Promise<R[]> {
    return readStream<R>(this.runtimeClient, method, request, options);
  }

  imageStream<R = unknown>(method: string, request: unknown, options: CallOptions = {}): Promise<R[]> {
    return readStream<R>(this.imageClient, method, request, options);
  }

  /** A unary RuntimeService call answered as the raw response bytes, not decoded (benchmarks time the runtime, not this decoder). */
  runtimeBytes(method: string, request: unknown, options: CallOptions = {}): Promise<Buffer> {
    const definition = loadCriProto().runtime.v1.RuntimeService.service[method as 'ListContainers'];
    if (!definition) return Promise.reject(new Error(`no method ${method}`));
    return new Promise((resolve, reject) => {
      this.runtimeClient.makeUnaryRequest(definition.path, definition.requestSerialize as (r: unknown) => Buffer, (b: Buffer) => b, request,
        options.metadata ?? new grpc.Metadata(), { deadline: Date.now() + (options.deadlineMs ?? 60_000) }, (err: grpc.ServiceError | null, value?: Buffer) => {
          if (err) reject(err);
          else resolve(value!);
        });
    });
  }

  /** A server-streaming RuntimeService call read as the raw messages on the wire (sizes, batch bounds). */
  runtimeStreamBytes(method: string, request: unknown, options: CallOptions = {}): Promise<Buffer[]> {
    const definition = loadCriProto().runtime.v1.RuntimeService.service[method as 'StreamContainers'];
    if (!definition) return Promise.reject(new Error(`no method ${method}`));
    return new Promise((resolve, reject) => {
      const call = this.runtimeClient.makeServerStreamRequest(definition.path, definition.requestSerialize as (r: unknown) => Buffer, (b: Buffer) => b, request,
        options.metadata ?? new grpc.Metadata(), { deadline: Date.now() + (options.deadlineMs ?? 60_000) });
      const messages: Buffer[] = [];
      call.on('data', (m: Buffer) => messages.push(m));
      call.on('error', reject);
      call.on('end', () => resolve(messages));
    });
  }

  close(): void {
    this.runtimeClient.close();
    this.imageClient.close();
  }
}

function unary<R>(client: grpc.Client, method: string, request: unknown, options: CallOptions): Promise<R> {
  return new Promise((resolve, reject) => {
    const callOptions: grpc.CallOptions = { deadline: Date.now() + (options.deadlineMs ?? 60_000) };
    const fn = (client as unknown as Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>)[method]!;
    fn.call(client, request, options.metadata ?? new grpc.Metadata(), callOptions, (err: grpc.ServiceError | null, value: R) => {
      if (err) reject(err);
      else resolve(value);
    });
  });
}

function readStream<R>(client: grpc.Client, method: string, request: unknown, options: CallOptions): Promise<R[]> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (...args: unknown[]) => grpc.ClientReadableStream<R>>)[method];
    if (!fn) {
      reject(new Error(`no streaming method ${method}`));
      return;
    }
    const call = fn.call(client, request, options.metadata ?? new grpc.Metadata(), { deadline: Date.now() + (options.deadlineMs ?? 60_000) });
    const messages: R[] = [];
    call.on('data', (m: R) => messages.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(messages));
  });
}

/** Rejects unless the promise fails with the given gRPC status code; returns the error. */
export async function expectCode(promise: Promise<unknown>, code: grpc.status): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code === code) return e;
    throw new Error(`expected ${grpc.status[code]}, got ${grpc.status[e.code] ?? 'a non-gRPC error'}: ${e.message}`);
  }
  throw new Error(`expected ${grpc.status[code]}, but the call succeeded`);
}
