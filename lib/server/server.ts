import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/index.js';
import type { Services } from '../daemon/services.js';
import { loadCriProto } from './proto.js';
import { acceptPreEncoded } from './list-encoding.js';
import { withCheckedRequests } from './request-check.js';
import { instrumentStream, instrumentUnary, unimplemented, unimplementedStream, type Instrumentation } from './instrument.js';
import { imageServiceHandlers, imageServiceStreams, runtimeServiceHandlers, runtimeServiceStreams } from './handlers/index.js';

export interface CriServer {
  grpc: grpc.Server;
  /** Calls in flight, for a bounded wait at shutdown. */
  inflight: { count: number };
  setReady(): void;
}

function implement(
  definition: grpc.ServiceDefinition,
  unary: Record<string, unknown>,
  streams: Record<string, unknown>,
  inst: Instrumentation,
): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.responseStream) {
      const handler = streams[name];
      impl[name] = handler ? instrumentStream(name, handler as never, inst) : unimplementedStream(name);
    } else {
      const handler = unary[name];
      impl[name] = handler ? instrumentUnary(name, handler as never, inst) : unimplemented(name);
    }
  }
  return impl;
}

/**
 * A copy of a service definition whose responses (unary answers and stream messages alike)
 * may also be handed over already encoded.
 */
function withPreEncodedResponses(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const entries = Object.entries(definition).map(([name, method]) =>
    [name, { ...method, responseSerialize: acceptPreEncoded(method.responseSerialize) }] as const);
  return Object.fromEntries(entries);
}

/** Both CRI services on one grpc-js server; connections are handed to it by the listener. */
export function createCriServer(services: Services, log: Logger): CriServer {
  const maxBytes = services.config.max_message_bytes;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
  });
  let ready = false;
  const inflight = { count: 0 };
  const inst: Instrumentation = { services, log, isReady: () => ready, inflight };
  const proto = loadCriProto().runtime.v1;
  const runtimeService = withCheckedRequests(withPreEncodedResponses(proto.RuntimeService.service));
  const imageService = withCheckedRequests(withPreEncodedResponses(proto.ImageService.service));
  server.addService(runtimeService, implement(runtimeService, runtimeServiceHandlers, runtimeServiceStreams, inst));
  server.addService(imageService, implement(imageService, imageServiceHandlers, imageServiceStreams, inst));
  return { grpc: server, inflight, setReady: () => { ready = true; } };
}
