export { MemoryOutboxStore, type MemoryOutboxStoreOptions, MemoryOutboxTransaction } from './memory.js';
export {
  migrateOutbox,
  type OutboxTableNames,
  outboxTableNames,
  type PgQueryable,
  type PostgresOutboxOptions,
  PostgresOutboxStore,
} from './postgres.js';
export { OutboxRelay, type OutboxRelayOptions } from './relay.js';
export { encodeEvent, type OutboxEntry, type OutboxMessage, type OutboxRecord, type OutboxStore } from './store.js';
