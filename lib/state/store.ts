import Database from 'better-sqlite3';
import { chmodSync, closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { GroupSync, fileSyncer } from './group-sync.js';

/**
 * Durable records of pods, containers and images. Each record is one JSON row, written in
 * its own transaction; the RPC that changed it answers once `durable()` says it is on disk.
 * The services keep the in-memory indexes that every List/Status call reads, and read this
 * only once, at start.
 */

/** Migrations in order; the database's user_version says how many have run. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE pods (id TEXT PRIMARY KEY, record TEXT NOT NULL);
   CREATE TABLE containers (id TEXT PRIMARY KEY, pod_id TEXT NOT NULL, record TEXT NOT NULL);
   CREATE INDEX containers_by_pod ON containers (pod_id);
   CREATE TABLE images (id TEXT PRIMARY KEY, record TEXT NOT NULL);
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];

export type TableName = 'pods' | 'containers' | 'images';

export interface StoredRecord {
  id: string;
}

export class RecordTable<T extends StoredRecord> {
  private readonly upsert: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly selectAll: Database.Statement;
  private readonly selectOne: Database.Statement;

  constructor(db: Database.Database, readonly name: TableName, private readonly commits: GroupSync, private readonly extraColumn?: { name: string; of: (r: T) => string }) {
    const cols = extraColumn ? `id, ${extraColumn.name}, record` : 'id, record';
    const params = extraColumn ? '@id, @extra, @record' : '@id, @record';
    this.upsert = db.prepare(`INSERT INTO ${name} (${cols}) VALUES (${params}) ON CONFLICT(id) DO UPDATE SET record = excluded.record`);
    this.remove = db.prepare(`DELETE FROM ${name} WHERE id = ?`);
    this.selectAll = db.prepare(`SELECT record FROM ${name}`);
    this.selectOne = db.prepare(`SELECT record FROM ${name} WHERE id = ?`);
  }

  put(record: T): void {
    const row: Record<string, string> = { id: record.id, record: JSON.stringify(record) };
    if (this.extraColumn) row.extra = this.extraColumn.of(record);
    this.upsert.run(row);
    this.commits.noteCommit();
  }

  delete(id: string): void {
    this.remove.run(id);
    this.commits.noteCommit();
  }

  get(id: string): T | undefined {
    const row = this.selectOne.get(id) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as T) : undefined;
  }

  all(): T[] {
    return (this.selectAll.all() as { record: string }[]).map((row) => JSON.parse(row.record) as T);
  }
}

export class StateStore {
  readonly pods: RecordTable<StoredRecord & Record<string, unknown>>;
  readonly containers: RecordTable<StoredRecord & { podId: string } & Record<string, unknown>>;
  readonly images: RecordTable<StoredRecord & Record<string, unknown>>;
  private readonly getSetting: Database.Statement;
  private readonly putSetting: Database.Statement;

  private readonly wal: ReturnType<typeof fileSyncer>;
  private readonly commits: GroupSync;

  private constructor(private readonly db: Database.Database, path: string) {
    this.wal = fileSyncer(`${path}-wal`);
    this.commits = new GroupSync(this.wal.sync);
    this.pods = new RecordTable(db, 'pods', this.commits);
    this.containers = new RecordTable(db, 'containers', this.commits, { name: 'pod_id', of: (r) => r.podId });
    this.images = new RecordTable(db, 'images', this.commits);
    this.getSetting = db.prepare('SELECT value FROM settings WHERE key = ?');
    this.putSetting = db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
  }

  /** Opens (creating and migrating as needed) the database file. */
  static open(path: string): StateStore {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    makeDatabaseFilesPrivate(path);
    const db = new Database(path);
    // WAL with synchronous=NORMAL survives a killed process (not a power loss) without an
    // fsync per commit; `durable()` syncs the WAL, for every commit so far, before an answer.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return new StateStore(db, path);
  }

  /** Typed views of the generic tables, for the module that owns each kind of record. */
  table<T extends StoredRecord>(name: TableName): RecordTable<T> {
    return this[name] as unknown as RecordTable<T>;
  }

  setting(key: string): string | undefined {
    return (this.getSetting.get(key) as { value: string } | undefined)?.value;
  }

  setSetting(key: string, value: string): void {
    this.putSetting.run(key, value);
    this.commits.noteCommit();
  }

  /**
   * Resolves once every change committed so far is on disk (it survives a power loss too).
   * Every RPC awaits it before it answers; a step that must not outlive its record on disk
   * (a root filesystem, a pod's network) awaits it before it starts.
   */
  durable(): Promise<void> {
    return this.commits.durable();
  }

  /** Runs `fn` as one transaction: every write inside it lands, or none does. */
  transaction<R>(fn: () => R): R {
    return this.db.transaction(fn)();
  }

  close(): void {
    this.wal.close();
    this.db.close();
  }
}

/** The database and the files SQLite keeps beside it. */
const DATABASE_SUFFIXES = ['', '-wal', '-shm', '-journal'] as const;

/**
 * The records hold every pod's and container's full spec (environment, commands): only root
 * may read them. SQLite gives the -wal and -shm files it creates the mode of the database
 * file, so a database file made 0600 before SQLite first opens it keeps all of them private;
 * files an older runcri left 0644 are changed too.
 */
function makeDatabaseFilesPrivate(path: string): void {
  closeSync(openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600));
  for (const suffix of DATABASE_SUFFIXES) {
    try {
      chmodSync(`${path}${suffix}`, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new Error(`state database schema version ${version} is newer than this runcri understands (${MIGRATIONS.length})`);
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
