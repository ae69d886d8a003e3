import { AlreadyExistsError, isRuntimeError } from '../errors/index.js';
import type { RecordTable, StateStore } from '../state/index.js';
import { resolveIdPrefix } from '../util/ids.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import type { ContainerRecord } from './record.js';

/**
 * The containers: records in memory (every List and Status reads only these) and in the state
 * store (written before an RPC answers), the index of names, and a lock per container under
 * which its start, stop, removal and updates run one at a time.
 */
export class ContainerStore {
  private readonly records = new Map<string, ContainerRecord>();
  /** `pod/name/attempt` → container ID, reserved from the start of a create. */
  private readonly names = new Map<string, string>();
  private readonly locks = new KeyedMutex();
  private readonly table: RecordTable<ContainerRecord>;

  constructor(store: StateStore) {
    this.table = store.table<ContainerRecord>('containers');
  }

  /** Every stored row, for recovery; none is visible until `add`ed. */
  stored(): ContainerRecord[] {
    return this.table.all();
  }

  private static nameKey(podId: string, name: string, attempt: number): string {
    return `${podId}/${name}/${attempt}`;
  }

  /** Claims a container name for `id`: a retried slow create gets ALREADY_EXISTS naming the first. */
  reserveName(podId: string, name: string, attempt: number, id: string): void {
    const key = ContainerStore.nameKey(podId, name, attempt);
    const holder = this.names.get(key);
    if (holder) throw new AlreadyExistsError(`container name "${name}" (attempt ${attempt}) in pod ${podId} is already reserved for container ${holder}`);
    this.names.set(key, id);
  }

  /** Gives a name back, if `id` still holds it. */
  releaseName(podId: string, name: string, attempt: number, id: string): void {
    const key = ContainerStore.nameKey(podId, name, attempt);
    if (this.names.get(key) === id) this.names.delete(key);
  }

  /** Makes a container visible (its name reserved for it, its record stored). */
  add(c: ContainerRecord): void {
    this.names.set(ContainerStore.nameKey(c.podId, c.metadata.name, c.metadata.attempt), c.id);
    this.records.set(c.id, c);
  }

  /** Writes the record to the state store. */
  persist(c: ContainerRecord): void {
    this.table.put(c);
  }

  /** Removes the container's record everywhere and frees its name. */
  forget(c: ContainerRecord): void {
    this.table.delete(c.id);
    if (this.records.get(c.id) === c) this.records.delete(c.id);
    this.releaseName(c.podId, c.metadata.name, c.metadata.attempt, c.id);
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  /** A container by full ID or unique prefix (NOT_FOUND otherwise). */
  get(idOrPrefix: string): ContainerRecord {
    return resolveIdPrefix(this.records, idOrPrefix, 'container');
  }

  /** The container, or undefined when there is none. */
  find(idOrPrefix: string): ContainerRecord | undefined {
    try {
      return this.get(idOrPrefix);
    } catch (err) {
      if (isRuntimeError(err) && err.kind === 'not_found') return undefined;
      throw err;
    }
  }

  all(): IterableIterator<ContainerRecord> {
    return this.records.values();
  }

  get size(): number {
    return this.records.size;
  }

  /** Runs `task` once no other locked task of the container runs. */
  withLock<T>(id: string, task: () => Promise<T>): Promise<T> {
    return this.locks.run(id, task);
  }
}
