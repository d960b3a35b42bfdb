export { ConcurrencyError, isConcurrencyError } from './errors.js';
export { EventStore, type EventStoreOptions } from './event-store.js';
export { MemoryEventStore, type MemoryEventStoreOptions, type TransactionalOutbox } from './memory.js';
export {
  type EventStoreTables,
  eventStoreTables,
  migrateEventStore,
  type PgQueryable,
  PostgresEventStore,
  type PostgresEventStoreOptions,
} from './postgres.js';
export type {
  Projection,
  ProjectionHandler,
  ProjectOptions,
  RebuildOptions,
  RebuildProgress,
} from './projection.js';
export {
  EVENT_TYPE_HEADER,
  GLOBAL_POSITION_HEADER,
  STREAM_ID_HEADER,
  STREAM_VERSION_HEADER,
  toPublishInput,
} from './publishing.js';
export type {
  AppendOptions,
  AppendResult,
  EventRouting,
  Evolve,
  ExpectedVersion,
  LoadedState,
  LoadOptions,
  NewEvent,
  OutboxMessageInput,
  OutboxWriter,
  ReadAllOptions,
  ReadStreamOptions,
  ReplayOptions,
  ReplayProgress,
  ReplayResult,
  StateAt,
  StoredEvent,
} from './types.js';
