import { randomBytes } from 'node:crypto';
import { ResourceExhaustedError } from '../errors/index.js';

export interface TokenLimits {
  ttlMs: number;
  maxOutstanding: number;
}

/**
 * Single-use tokens for streaming URLs: random, expiring, bounded in number. A token is
 * removed on first use whatever happens next, so a URL can never start two sessions.
 */
export class TokenStore<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();

  constructor(private readonly limits: TokenLimits, private readonly now: () => number = Date.now) {}

  issue(value: T): string {
    if (this.entries.size >= this.limits.maxOutstanding) this.sweep();
    if (this.entries.size >= this.limits.maxOutstanding) {
      throw new ResourceExhaustedError(`too many streaming requests are outstanding (${this.limits.maxOutstanding})`);
    }
    const token = randomBytes(18).toString('base64url');
    this.entries.set(token, { value, expires: this.now() + this.limits.ttlMs });
    return token;
  }

  /** The token's request, once; undefined for an unknown, used or expired token. */
  consume(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    return entry.expires > this.now() ? entry.value : undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) if (entry.expires <= now) this.entries.delete(token);
  }
}
