/**
 * Seeded random CRI messages for fuzzing the gRPC surface: objects built from the schema
 * (every field kind, edge values, unknown enum numbers, absent and present sub-messages),
 * encoded with protobufjs, then optionally damaged on the wire (unknown fields, a known field
 * with the wrong wire type or invalid UTF-8, deep group nesting, truncation, plain garbage).
 */
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { protoRoot } from '../../lib/server/proto.js';

/** A small seeded generator (mulberry32): the same seed gives the same inputs. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** Printable ASCII of random length, sometimes with a non-ASCII character inside. */
  word(max = 24): string {
    const chars = 'abcdefghijklmnopqrstuvwxyz0123456789-_.';
    let s = '';
    for (let i = 1 + this.int(max); i > 0; i--) s += chars[this.int(chars.length)];
    return this.chance(0.1) ? `${s}${this.pick(['é', '€', '😀', '\n'])}` : s;
  }
}

export const EDGE_STRINGS: readonly string[] = [
  '', ' ', '\n', '\r\n', '\t', '.', '..', '/', '//', '../../../../etc/passwd', '-', '--help', '*', '?',
  '%s%n%x', '${HOME}', '$(id)', '`id`', '\'"', ';', '=', 'a;b=c', 'IP=10.0.0.1', 'é', '日本語', '😀', '\u202e', '\ufeff',
  '\ud800', '\uffff', 'x'.repeat(64), 'x'.repeat(255), 'x'.repeat(4097), 'A'.repeat(65_537),
];

/** Strings no request may carry at all (refused wherever they appear): picked rarely, or little gets past them. */
export const NUL_STRINGS: readonly string[] = ['\0', 'a\0b'];

/** Too big for any name, still under the daemon's 16 MiB message limit. */
export const HUGE_STRINGS: readonly string[] = ['h'.repeat(256 * 1024), 'u'.repeat(1024 * 1024)];

const INT64_EDGES = ['0', '1', '-1', '9223372036854775807', '-9223372036854775808', '4294967296', '-4294967296', '1000000000000'];
const UINT64_EDGES = ['0', '1', '18446744073709551615', '9223372036854775808', '4294967296'];
const INT32_EDGES = [0, 1, -1, 2147483647, -2147483648, 65535, 65536];
const UINT32_EDGES = [0, 1, 4294967295, 2147483648, 65536];
const UNKNOWN_ENUM_NUMBERS = [-1, 99, 2147483647, -2147483648, 17];

/** The schema, loaded from the project's own api.proto. */
export function loadCriSchema(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoRoot(), target);
  root.loadSync('runtime/v1/api.proto', { keepCase: true });
  root.resolveAll();
  return root;
}

export interface FuzzMethod {
  service: string;
  name: string;
  path: string;
  requestType: protobuf.Type;
  serverStream: boolean;
}

/** Every RPC of both CRI services, from the schema. */
export function criMethods(root: protobuf.Root): FuzzMethod[] {
  const out: FuzzMethod[] = [];
  for (const serviceName of ['RuntimeService', 'ImageService']) {
    const service = root.lookupService(`runtime.v1.${serviceName}`);
    for (const method of service.methodsArray) {
      out.push({
        service: serviceName,
        name: method.name,
        path: `/runtime.v1.${serviceName}/${method.name}`,
        requestType: method.resolvedRequestType!,
        serverStream: !!method.responseStream,
      });
    }
  }
  return out;
}

/**
 * Chooses a field's value instead of the generator (return `undefined` to let it choose):
 * how a test keeps fuzzed requests off the node's own files, cgroups and network.
 */
export type FieldGuard = (path: string, field: protobuf.Field, rng: Rng) => unknown;

export interface GenerateOptions {
  guard?: FieldGuard;
  /** Nesting depth below which sub-messages are left out. */
  maxDepth?: number;
  /** Strings to mix in (e.g. IDs of real objects), besides the edge and random ones. */
  extraStrings?: () => readonly string[];
}

/** A random plain object for `type`; `encodeMessage` makes it bytes. */
export function randomObject(type: protobuf.Type, rng: Rng, options: GenerateOptions = {}, path = '', depth = 0): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  const maxDepth = options.maxDepth ?? 8;
  for (const field of type.fieldsArray) {
    const fieldPath = path ? `${path}.${field.name}` : field.name;
    const guarded = options.guard?.(fieldPath, field, rng);
    if (guarded !== undefined) {
      if (guarded !== null) obj[field.name] = guarded;
      continue;
    }
    if (!rng.chance(0.6)) continue;
    if (field.map) {
      const map: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) map[randomString(rng, options)] = scalarOrMessage(field, rng, options, `${fieldPath}[]`, depth, maxDepth);
      obj[field.name] = map;
    } else if (field.repeated) {
      const count = depth < 2 && rng.chance(0.05) ? 50 : rng.int(4);
      const items: unknown[] = [];
      for (let i = 0; i < count; i++) {
        const item = scalarOrMessage(field, rng, options, `${fieldPath}[]`, depth, maxDepth);
        if (item !== undefined) items.push(item);
      }
      obj[field.name] = items;
    } else {
      const value = scalarOrMessage(field, rng, options, fieldPath, depth, maxDepth);
      if (value !== undefined) obj[field.name] = value;
    }
  }
  return obj;
}

function scalarOrMessage(field: protobuf.Field, rng: Rng, options: GenerateOptions, path: string, depth: number, maxDepth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    if (depth >= maxDepth) return undefined;
    return randomObject(resolved, rng, options, path, depth + 1);
  }
  if (resolved instanceof protobuf.Enum) {
    const known = Object.values(resolved.values);
    return rng.chance(0.15) ? rng.pick(UNKNOWN_ENUM_NUMBERS) : rng.pick(known);
  }
  switch (field.type) {
    case 'string': return randomString(rng, options);
    case 'bytes': return rng.chance(0.1) ? rng.bytes(70_000) : rng.bytes(rng.int(64));
    case 'bool': return rng.chance(0.5);
    case 'int64': case 'sint64': case 'sfixed64':
      return rng.chance(0.7) ? rng.pick(INT64_EDGES) : String(rng.int(2 ** 31) - 2 ** 30);
    case 'uint64': case 'fixed64':
      return rng.chance(0.7) ? rng.pick(UINT64_EDGES) : String(rng.int(2 ** 31));
    case 'int32': case 'sint32': case 'sfixed32':
      return rng.chance(0.7) ? rng.pick(INT32_EDGES) : rng.int(2 ** 16) - 2 ** 15;
    case 'uint32': case 'fixed32':
      return rng.chance(0.7) ? rng.pick(UINT32_EDGES) : rng.int(2 ** 16);
    case 'double': case 'float':
      return rng.pick([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -1e308, 1e308]);
    default:
      throw new Error(`no generator for field type ${field.type}`);
  }
}

export function randomString(rng: Rng, options: GenerateOptions = {}): string {
  const roll = rng.next();
  const extra = options.extraStrings?.() ?? [];
  if (extra.length > 0 && roll < 0.25) {
    const s = rng.pick(extra);
    // A prefix of an ID is a valid way to name it; a one-character one is usually ambiguous.
    return rng.chance(0.3) ? s.slice(0, 1 + rng.int(Math.max(1, s.length))) : s;
  }
  if (roll < 0.55) return rng.pick(EDGE_STRINGS);
  if (roll < 0.57) return rng.pick(HUGE_STRINGS);
  if (roll < 0.575) return rng.pick(NUL_STRINGS);
  return rng.word();
}

/** protobufjs encoding of a plain object (int64 as decimal strings, enums as names or numbers). */
export function encodeMessage(type: protobuf.Type, obj: Record<string, unknown>): Buffer {
  return Buffer.from(type.encode(type.fromObject(obj)).finish());
}

/** The largest field number the schema uses in `type`, so appended unknown ones never collide. */
function unusedFieldNumber(type: protobuf.Type, rng: Rng): number {
  const used = new Set(type.fieldsArray.map((f) => f.id));
  for (;;) {
    const n = 1000 + rng.int(100_000);
    if (!used.has(n)) return n;
  }
}

function tag(field: number, wireType: number): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(((field << 3) | wireType) >>> 0);
  return Buffer.from(w.finish());
}

function varint(n: number): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(n >>> 0);
  return Buffer.from(w.finish());
}

/** Unknown fields of every wire type; a parser must skip them. */
export function withUnknownFields(type: protobuf.Type, message: Buffer, rng: Rng): Buffer {
  const parts: Buffer[] = [message];
  for (let i = 1 + rng.int(3); i > 0; i--) {
    const n = unusedFieldNumber(type, rng);
    switch (rng.int(4)) {
      case 0: parts.push(tag(n, 0), varint(rng.int(2 ** 31))); break;
      case 1: parts.push(tag(n, 1), rng.bytes(8)); break;
      case 2: { const body = rng.bytes(rng.int(40)); parts.push(tag(n, 2), varint(body.length), body); break; }
      default: parts.push(tag(n, 5), rng.bytes(4));
    }
  }
  return Buffer.concat(parts);
}

/** An unknown group nested `depth` levels: a recursive skipper overflows its stack on it. */
export function withDeepGroups(type: protobuf.Type, message: Buffer, depth: number, rng: Rng): Buffer {
  const n = unusedFieldNumber(type, rng);
  return Buffer.concat([message, Buffer.concat(Array.from({ length: depth }, () => tag(n, 3))), Buffer.concat(Array.from({ length: depth }, () => tag(n, 4)))]);
}

/**
 * A known top-level field sent again with the wrong wire type, or a string field holding
 * invalid UTF-8. Only top-level fields are touched: the test's guards stay in force below.
 */
export function withWrongKnownField(type: protobuf.Type, message: Buffer, rng: Rng): Buffer {
  const fields = type.fieldsArray;
  if (fields.length === 0) return message;
  const field = rng.pick(fields);
  if (field.type === 'string' && rng.chance(0.5)) return Buffer.concat([message, tag(field.id, 2), varint(3), Buffer.from([0xff, 0xfe, 0xc0])]);
  const wire = rng.pick([0, 1, 2, 5, 7]);
  const payload = wire === 0 ? varint(rng.int(2 ** 31)) : wire === 1 ? rng.bytes(8) : wire === 2 ? Buffer.concat([varint(5), rng.bytes(5)]) : wire === 5 ? rng.bytes(4) : rng.bytes(3);
  return Buffer.concat([message, tag(field.id, wire), payload]);
}

/**
 * A valid request with some of its fields replaced by those of a random one (at any depth,
 * each with probability `p`): requests that pass the first checks and reach deeper code.
 */
export function overlay(base: Record<string, unknown>, random: Record<string, unknown>, rng: Rng, p = 0.2): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(random)) {
    const mine = base[key];
    const nested = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);
    if (nested(mine) && nested(value)) out[key] = overlay(mine, value, rng, p);
    else if (rng.chance(p)) out[key] = value;
  }
  return out;
}
