import type * as grpc from '@grpc/grpc-js';
import { loadCriProto } from './proto.js';

/**
 * A request body that is not a valid message of its type, or breaks a FieldChecks check.
 * grpc-js answers INTERNAL when a deserializer throws; the request was bad, not the server, so
 * the deserializer hands this over instead and the RPC wrapper answers INVALID_ARGUMENT.
 */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
}

interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
  options?: { mapEntry?: boolean } | null;
}

interface EnumDescriptor {
  value: { name: string; number: number }[];
}

interface TypeEntry {
  format: string;
  type: MessageDescriptor | EnumDescriptor;
}

/**
 * Checks that hold for every field of every CRI request, whatever the RPC, walked with the
 * schema. Requests are decoded with enums as their names, so a number in an enum field is a
 * value this schema does not know: a mode or protocol the runtime cannot honour, refused
 * rather than read as something else. A NUL in a string cannot pass through an exec argument,
 * an environment variable or a file path, where names, commands and paths end up (and Node
 * throws on it there): refused in every string and bytes field but map entries (labels,
 * annotations), which only ever travel as JSON.
 */
class FieldChecks {
  private readonly messages = new Map<string, MessageDescriptor>();
  private readonly enums = new Map<string, EnumDescriptor>();

  constructor(namespace: Record<string, unknown>) {
    for (const [name, entry] of Object.entries(namespace)) {
      const t = entry as Partial<TypeEntry>;
      if (t.format === 'Protocol Buffer 3 DescriptorProto') this.messages.set(name, t.type as MessageDescriptor);
      else if (t.format === 'Protocol Buffer 3 EnumDescriptorProto') this.enums.set(name, t.type as EnumDescriptor);
    }
  }

  /** Map entries (all CRI maps are string to string) are not walked; nor are unknown names. */
  private message(name: string): MessageDescriptor | undefined {
    const m = this.messages.get(name);
    return m && !m.options?.mapEntry ? m : undefined;
  }

  /** The first field below `value` that breaks a check, described; undefined when none does. */
  problem(typeName: string, value: unknown, path = ''): string | undefined {
    const m = this.message(typeName);
    if (!m || !value || typeof value !== 'object') return undefined;
    for (const f of m.field) {
      const v = (value as Record<string, unknown>)[f.name];
      if (v === undefined || v === null) continue;
      const at = path ? `${path}.${f.name}` : f.name;
      const items = f.label === 'LABEL_REPEATED' && Array.isArray(v) ? v : [v];
      for (const item of items) {
        if (f.type === 'TYPE_ENUM' && typeof item === 'number') {
          const known = this.enums.get(f.typeName)?.value.map((e) => e.name).join(', ') ?? '';
          return `${at}: ${item} is not a ${f.typeName} this runtime knows (${known})`;
        }
        if (f.type === 'TYPE_STRING' && typeof item === 'string' && item.includes('\0')) {
          return `${at}: a NUL character is not allowed in a string`;
        }
        // The one bytes field of a request is KeyValue.value, an environment variable's value
        // (a string in CRI itself; this tree declares it bytes).
        if (f.type === 'TYPE_BYTES' && Buffer.isBuffer(item) && item.includes(0)) {
          return `${at}: a NUL byte is not allowed in a value`;
        }
        if (f.type === 'TYPE_MESSAGE') {
          const found = this.problem(f.typeName, item, at);
          if (found) return found;
        }
      }
    }
    return undefined;
  }
}

let fieldChecks: FieldChecks | undefined;

/** A copy of a service definition whose requests that do not decode, or fail a FieldChecks check, reach the wrapper as UndecodableRequest. */
export function withCheckedRequests(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  fieldChecks ??= new FieldChecks(loadCriProto().runtime.v1 as unknown as Record<string, unknown>);
  const checks = fieldChecks;
  const entries = Object.entries(definition).map(([name, method]) => {
    const typeName = (method as { requestType?: { type?: { name?: string } } }).requestType?.type?.name ?? `${name}Request`;
    const decode = method.requestDeserialize;
    const requestDeserialize = (bytes: Buffer): unknown => {
      let request: unknown;
      try {
        request = decode(bytes);
      } catch (err) {
        return new UndecodableRequest(`the request is not a valid runtime.v1.${typeName} message: ${err instanceof Error ? err.message : String(err)}`);
      }
      const problem = checks.problem(typeName, request);
      return problem ? new UndecodableRequest(problem) : request;
    };
    return [name, { ...method, requestDeserialize }] as const;
  });
  return Object.fromEntries(entries);
}
