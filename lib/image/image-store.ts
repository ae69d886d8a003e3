import type { RecordTable, StateStore } from '../state/index.js';
import { InvalidArgumentError } from '../errors/index.js';
import { repositoryName, taggedName, tryParseReference } from './reference.js';
import type { ImageRecord } from './types.js';

const FULL_ID = /^sha256:[a-f0-9]{64}$/;
const HEX_PREFIX = /^(?:sha256:)?([a-f0-9]{1,64})$/;

/** How a lookup string matched: removing by tag removes only that tag. */
export interface Lookup {
  record: ImageRecord;
  byTag?: string;
}

/**
 * Image records: durable in the state database, indexed in memory by ID, tag and repo digest.
 * Every List/Status call reads only the in-memory maps.
 */
export class ImageStore {
  private readonly table: RecordTable<ImageRecord & { id: string }>;
  private readonly byId = new Map<string, ImageRecord>();
  private readonly byTag = new Map<string, string>();
  private readonly byDigest = new Map<string, string>();

  constructor(private readonly state: StateStore) {
    this.table = state.table<ImageRecord>('images');
  }

  load(): void {
    for (const record of this.table.all()) this.index(record);
  }

  private index(record: ImageRecord): void {
    this.byId.set(record.id, record);
    for (const tag of record.repoTags) this.byTag.set(tag, record.id);
    for (const digest of record.repoDigests) this.byDigest.set(digest, record.id);
  }

  private unindex(record: ImageRecord): void {
    this.byId.delete(record.id);
    for (const tag of record.repoTags) if (this.byTag.get(tag) === record.id) this.byTag.delete(tag);
    for (const digest of record.repoDigests) if (this.byDigest.get(digest) === record.id) this.byDigest.delete(digest);
  }

  list(): ImageRecord[] {
    return [...this.byId.values()];
  }

  /**
   * Commits a pulled image in one transaction: merged with an existing record of the same ID,
   * and its tags taken from whichever image had them before.
   */
  commit(pulled: ImageRecord): ImageRecord {
    const existing = this.byId.get(pulled.id);
    const record: ImageRecord = existing
      ? { ...pulled, repoTags: union(existing.repoTags, pulled.repoTags), repoDigests: union(existing.repoDigests, pulled.repoDigests), blobs: union(existing.blobs, pulled.blobs) }
      : pulled;
    // Images that held one of these tags lose it (and stay, untagged, until removed).
    const losers = new Map<string, ImageRecord>();
    for (const tag of pulled.repoTags) {
      const holder = this.byTag.get(tag);
      if (!holder || holder === record.id) continue;
      const old = losers.get(holder) ?? this.byId.get(holder)!;
      losers.set(holder, { ...old, repoTags: old.repoTags.filter((t) => t !== tag) });
    }
    this.state.transaction(() => {
      for (const loser of losers.values()) this.table.put(loser);
      this.table.put(record);
    });
    for (const loser of losers.values()) {
      this.unindex(this.byId.get(loser.id)!);
      this.index(loser);
    }
    if (existing) this.unindex(existing);
    this.index(record);
    return record;
  }

  /**
   * Finds an image by full ID, 64-hex ID, tag (any form that normalizes to it), repo digest,
   * or unambiguous ID prefix. Undefined when nothing matches.
   */
  find(query: string): Lookup | undefined {
    if (!query) return undefined;
    if (FULL_ID.test(query)) {
      const record = this.byId.get(query);
      return record && { record };
    }
    if (/^[a-f0-9]{64}$/.test(query)) {
      const record = this.byId.get(`sha256:${query}`);
      if (record) return { record };
    }
    const ref = tryParseReference(query);
    if (ref) {
      if (ref.digest) {
        const id = this.byDigest.get(`${repositoryName(ref)}@${ref.digest}`);
        if (id) return { record: this.byId.get(id)! };
      } else {
        const tag = taggedName(ref)!;
        const id = this.byTag.get(tag);
        if (id) return { record: this.byId.get(id)!, byTag: tag };
      }
    }
    const prefix = HEX_PREFIX.exec(query);
    if (prefix) {
      const wanted = `sha256:${prefix[1]}`;
      const matches = [...this.byId.keys()].filter((id) => id.startsWith(wanted));
      if (matches.length > 1) throw new InvalidArgumentError(`image ID prefix "${query}" is ambiguous`);
      if (matches.length === 1) return { record: this.byId.get(matches[0]!)! };
    }
    return undefined;
  }

  /** Removes one tag; the image goes entirely when that was its last. Returns what remains. */
  untag(record: ImageRecord, tag: string): ImageRecord | undefined {
    const tags = record.repoTags.filter((t) => t !== tag);
    if (tags.length === 0) {
      this.delete(record);
      return undefined;
    }
    const updated = { ...record, repoTags: tags };
    this.table.put(updated);
    this.unindex(record);
    this.index(updated);
    return updated;
  }

  delete(record: ImageRecord): void {
    this.table.delete(record.id);
    this.unindex(record);
  }
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}
