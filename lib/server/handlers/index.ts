/**
 * The RPC table: CRI method name → handler. A method missing here answers UNIMPLEMENTED.
 * One file per RPC, named <object>-<verb>.ts.
 */
import type { StreamHandler, UnaryHandler } from '../context.js';
import { runtimeVersion } from './runtime-version.js';
import { runtimeStatus } from './runtime-status.js';
import { runtimeConfig } from './runtime-config.js';

// Handlers are typed per file; the table erases the message types for registration.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyUnary = UnaryHandler<any, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStream = StreamHandler<any, any>;

export const runtimeServiceHandlers: Record<string, AnyUnary> = {
  Version: runtimeVersion,
  Status: runtimeStatus,
  RuntimeConfig: runtimeConfig,
};

export const runtimeServiceStreams: Record<string, AnyStream> = {};

export const imageServiceHandlers: Record<string, AnyUnary> = {};
