export { InboxAdapter, type WithInboxOptions, withInbox } from './adapter.js';
export {
  createInbox,
  Inbox,
  type InboxDuplicate,
  type InboxHandler,
  type InboxOptions,
  type InboxStats,
  inboxTransaction,
} from './inbox.js';
export { MemoryInboxStore } from './memory.js';
export {
  type InboxTableNames,
  inboxTableNames,
  migrateInbox,
  type PostgresInboxOptions,
  PostgresInboxStore,
} from './postgres.js';
export { INBOX_METRIC_NAMES, type PromRegistry } from './prometheus.js';
export { type RedisInboxClient, type RedisInboxOptions, RedisInboxStore } from './redis.js';
export type { CleanupResult, InboxRetention } from './retention.js';
export type { InboxEntry, InboxOutcome, InboxStore } from './store.js';
