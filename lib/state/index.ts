export { StateStore, RecordTable, type StoredRecord, type TableName } from './store.js';
export { acquireRootLock, restrictRootDir, type RootLock } from './lock.js';
