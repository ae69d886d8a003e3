import { InvalidArgumentError } from '../errors/index.js';

/**
 * Limits on request strings that reach the kernel as names and paths or programs as
 * arguments and environment variables. Past them the failure would come late and as an
 * errno (ENAMETOOLONG, E2BIG from spawn), after part of the work was done.
 */

/** Kubernetes' longest name (a DNS subdomain); pod and container names are at most this. */
export const MAX_NAME_BYTES = 253;
/** PATH_MAX less its NUL, and NAME_MAX per component. */
const MAX_PATH_BYTES = 4095;
const MAX_COMPONENT_BYTES = 255;

export function checkNameLength(value: string, field: string): void {
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_NAME_BYTES) throw new InvalidArgumentError(`${field} is ${bytes} bytes long; at most ${MAX_NAME_BYTES} are allowed`);
}

export function checkPathLength(path: string, field: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_PATH_BYTES) throw new InvalidArgumentError(`${field} is a path of ${bytes} bytes; at most ${MAX_PATH_BYTES} are allowed`);
  const long = path.split('/').find((part) => Buffer.byteLength(part) > MAX_COMPONENT_BYTES);
  if (long !== undefined) throw new InvalidArgumentError(`${field} has a component of ${Buffer.byteLength(long)} bytes; at most ${MAX_COMPONENT_BYTES} are allowed`);
}
