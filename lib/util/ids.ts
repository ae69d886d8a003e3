import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, NotFoundError } from '../errors/index.js';

/** A 64-hex-character ID, as the peers use for pods and containers. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

/** Non-empty, or an INVALID_ARGUMENT naming the field. */
export function requireField(value: string | undefined | null, field: string): string {
  if (!value) throw new InvalidArgumentError(`${field} is required`);
  return value;
}

/**
 * Finds the one entry whose ID is `idOrPrefix` or starts with it, as crictl lets users
 * type short IDs. An ambiguous prefix is an error, not a guess.
 */
export function resolveIdPrefix<T>(entries: ReadonlyMap<string, T>, idOrPrefix: string, what: string): T {
  const exact = entries.get(idOrPrefix);
  if (exact !== undefined) return exact;
  let found: T | undefined;
  let count = 0;
  if (idOrPrefix.length > 0) {
    for (const [id, entry] of entries) {
      if (id.startsWith(idOrPrefix)) {
        found = entry;
        count++;
      }
    }
  }
  if (count === 1) return found as T;
  if (count > 1) throw new InvalidArgumentError(`${what} ID prefix "${idOrPrefix}" is ambiguous`);
  throw new NotFoundError(`${what} "${idOrPrefix}" not found`);
}

/** Does every key/value of `selector` appear in `labels`? (CRI label selectors are equality only.) */
export function matchesLabels(labels: Record<string, string> | undefined, selector: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) {
    if (labels?.[k] !== v) return false;
  }
  return true;
}
