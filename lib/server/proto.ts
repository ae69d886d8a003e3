import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';
import type { ProtoGrpcType } from '../generated/api.js';
import { apiDescriptor } from '../generated/api-descriptor.js';

/**
 * int64 fields load as decimal strings (never a lossy number) and enums as their names;
 * absent fields get proto3 defaults, as Go's generated code sees them.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The directory holding `runtime/v1/api.proto`: beside the sources, or beside the build. */
export function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'protos');
    if (existsSync(join(candidate, 'runtime/v1/api.proto'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('runcri: protos/runtime/v1/api.proto not found beside the program');
}

let cached: ProtoGrpcType | undefined;

export function loadCriProto(): ProtoGrpcType {
  if (!cached) {
    // The descriptor protos/generate.sh derived from api.proto at build time: the same schema, not parsed again.
    const definition = protoLoader.fromJSON(apiDescriptor, LOADER_OPTIONS);
    cached = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return cached;
}
