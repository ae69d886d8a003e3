import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { CriMethodDefinition } from './proto.js';

/**
 * A request body that is not a valid message of its type, or breaks a check of fieldProblem.
 * grpc-js answers INTERNAL when a deserializer throws; the request was bad, not the server, so
 * the deserializer hands this over instead and the RPC wrapper answers INVALID_ARGUMENT.
 */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/**
 * Checks that hold for every field of every CRI request, whatever the RPC, walked with the
 * schema. Requests are decoded with enums as their names, so a number in an enum field is a
 * value this schema does not know: a mode or protocol the runtime cannot honour, refused
 * rather than read as something else. A NUL in a string cannot pass through an exec argument,
 * an environment variable or a file path, where names, commands and paths end up (and Node
 * throws on it there): refused in every string and bytes field but maps (labels,
 * annotations), which only ever travel as JSON.
 */
export function fieldProblem(type: protobuf.Type, value: unknown, path = ''): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  for (const field of type.fieldsArray) {
    if (field.map) continue;
    const v = (value as Record<string, unknown>)[field.name];
    if (v === undefined || v === null) continue;
    const at = path ? `${path}.${field.name}` : field.name;
    const items = field.repeated && Array.isArray(v) ? v : [v];
    // resolved when its type was first decoded; resolve() is then a no-op
    const resolved = field.resolve().resolvedType;
    for (const item of items) {
      if (resolved instanceof protobuf.Enum && typeof item === 'number') {
        return `${at}: ${item} is not a ${resolved.name} this runtime knows (${Object.keys(resolved.values).join(', ')})`;
      }
      if (field.type === 'string' && typeof item === 'string' && item.includes('\0')) {
        return `${at}: a NUL character is not allowed in a string`;
      }
      // The one bytes field of a request is KeyValue.value, an environment variable's value
      // (a string in CRI itself; this tree declares it bytes).
      if (field.type === 'bytes' && Buffer.isBuffer(item) && item.includes(0)) {
        return `${at}: a NUL byte is not allowed in a value`;
      }
      if (resolved instanceof protobuf.Type) {
        const found = fieldProblem(resolved, item, at);
        if (found) return found;
      }
    }
  }
  return undefined;
}

/** A copy of a service definition whose requests that do not decode, or fail a fieldProblem check, reach the wrapper as UndecodableRequest. */
export function withCheckedRequests(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const entries = Object.entries(definition).map(([name, method]) => {
    const type = (method as Partial<CriMethodDefinition>).requestType;
    if (!type) throw new Error(`${name}: a CRI method definition names its request type`);
    const decode = method.requestDeserialize;
    const requestDeserialize = (bytes: Buffer): unknown => {
      let request: unknown;
      try {
        request = decode(bytes);
      } catch (err) {
        return new UndecodableRequest(`the request is not a valid ${type.fullName.slice(1)} message: ${err instanceof Error ? err.message : String(err)}`);
      }
      const problem = fieldProblem(type, request);
      return problem ? new UndecodableRequest(problem) : request;
    };
    return [name, { ...method, requestDeserialize }] as const;
  });
  return Object.fromEntries(entries);
}
