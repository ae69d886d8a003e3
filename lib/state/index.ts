export { StateStore, RecordTable, type StoredRecord, type TableName } from './store.js';
export { acquireRootLock, type RootLock } from './lock.js';
