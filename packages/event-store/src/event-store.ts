import {
  consoleLogger,
  EventportError,
  formatZodError,
  type Logger,
  parseOptions,
  type VersionedEvent,
} from '@eventport/core';
import { z } from 'zod';
import { type EncodedEvent, EventCodec, type RawEvent, StreamIdSchema } from './encoding.js';
import {
  type Projection,
  type ProjectionBackend,
  type ProjectionHandler,
  ProjectionRunner,
  type ProjectOptions,
  type RebuildOptions,
} from './projection.js';
import { matchesFilter, replayEvents } from './publishing.js';
import type {
  AppendOptions,
  AppendResult,
  Evolve,
  ExpectedVersion,
  LoadedState,
  LoadOptions,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  ReplayOptions,
  ReplayResult,
  StateAt,
  StoredEvent,
} from './types.js';

export interface EventStoreOptions {
  /** Versioned event types (defineEvent(...).version().upcast()): validated on append, upcast on read. */
  events?: readonly VersionedEvent[];
  /** Events fetched per query while iterating reads. Default 500. */
  pageSize?: number;
  logger?: Logger;
}

/** The filters of readAll() a backend pushes into its query. */
export interface ReadAllFilter {
  types?: readonly string[];
  since?: Date;
  until?: Date;
  correlationId?: string;
}

export interface StreamRange {
  fromVersion: number;
  toVersion: number;
  direction: 'forward' | 'backward';
}

export interface SnapshotKey {
  streamId: string;
  name: string;
  schemaVersion: number;
}

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const ExpectedVersionSchema = z.union([nonNegativeInt, z.enum(['no-stream', 'exists', 'any'])]);

const ReadStreamOptionsSchema = z.object({
  fromVersion: positiveInt.default(1),
  toVersion: positiveInt.default(Number.MAX_SAFE_INTEGER),
  direction: z.enum(['forward', 'backward']).default('forward'),
  pageSize: positiveInt.optional(),
});

const ReadAllOptionsSchema = z.object({
  fromPosition: positiveInt.default(1),
  types: z.array(z.string()).readonly().optional(),
  since: z.date().optional(),
  until: z.date().optional(),
  correlationId: z.string().optional(),
  limit: nonNegativeInt.optional(),
  pageSize: positiveInt.optional(),
});

const LoadOptionsSchema = z.object({
  snapshotEvery: positiveInt.optional(),
  schemaVersion: positiveInt.default(1),
  snapshotName: z.string().min(1).max(200).default('default'),
});

/**
 * What every event store does, written once over a few backend primitives (append one batch, read
 * one page, one snapshot, one checkpointed transaction), so the PostgreSQL and memory stores share
 * their semantics by construction.
 */
export abstract class EventStore<Tx = never> {
  protected readonly codec: EventCodec;
  protected readonly pageSize: number;
  protected readonly logger: Logger;
  private readonly projections = new Map<string, ProjectionRunner<Tx>>();

  constructor(options: EventStoreOptions = {}) {
    this.codec = new EventCodec(options.events);
    this.pageSize = parseOptions(
      z.object({ pageSize: positiveInt.default(500) }),
      options,
      'event store',
      'INVALID_ARGUMENT',
    ).pageSize;
    this.logger = options.logger ?? consoleLogger();
  }

  /** The stream's current version (0: no events). */
  abstract streamVersion(streamId: string): Promise<number>;
  /** The position of the last committed event (0: none). */
  abstract headPosition(tx?: Tx): Promise<number>;
  /** A projection's checkpoint: the position of the last event it applied (0: none). */
  abstract checkpoint(name: string): Promise<number>;

  /** Writes `events` as one commit after checking `expected`; ConcurrencyError when it does not hold. */
  protected abstract write(
    streamId: string,
    events: readonly EncodedEvent[],
    expected: ExpectedVersion,
    transaction: Tx | undefined,
  ): Promise<AppendResult>;
  protected abstract readStreamPage(streamId: string, range: StreamRange, limit: number): Promise<RawEvent[]>;
  protected abstract readAllPage(
    filter: ReadAllFilter,
    fromPosition: number,
    limit: number,
    tx?: Tx,
  ): Promise<RawEvent[]>;
  protected abstract readSnapshot(key: SnapshotKey): Promise<{ version: number; state: unknown } | undefined>;
  /** Keeps the snapshot with the highest version per key. */
  protected abstract writeSnapshot(key: SnapshotKey, version: number, stateJson: string): Promise<void>;
  protected abstract withCheckpoint(
    name: string,
    work: (checkpoint: number, tx: Tx) => Promise<number>,
  ): Promise<number>;
  protected abstract resetCheckpoint(name: string, reset: (tx: Tx) => Promise<void> | void): Promise<void>;

  /**
   * Appends `events` to the stream as one atomic commit with consecutive versions, after checking
   * `expectedVersion` (default `'any'`). Rejects with ConcurrencyError on a version mismatch.
   */
  async append(
    streamId: string,
    events: NewEvent | readonly NewEvent[],
    options: AppendOptions<Tx> = {},
  ): Promise<AppendResult> {
    const id = parseArgument(StreamIdSchema, streamId, 'stream id');
    const expected = parseArgument(ExpectedVersionSchema, options.expectedVersion ?? 'any', 'expectedVersion');
    const list: readonly NewEvent[] = Array.isArray(events) ? events : [events as NewEvent];
    const encoded = list.map((event, index) => this.codec.encode(event, index));
    const result = await this.write(id, encoded, expected, options.transaction);
    if (result.events.length > 0) for (const runner of this.projections.values()) runner.notify();
    return result;
  }

  /** The stream's events in version order (or reversed), fetched a page at a time. */
  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncGenerator<StoredEvent> {
    const range = parseOptions(ReadStreamOptionsSchema, options, 'readStream', 'INVALID_ARGUMENT');
    const pageSize = range.pageSize ?? this.pageSize;
    let { fromVersion, toVersion } = range;
    while (fromVersion <= toVersion) {
      const page = await this.readStreamPage(
        streamId,
        { fromVersion, toVersion, direction: range.direction },
        pageSize,
      );
      for (const raw of page) yield this.codec.decode(raw);
      const last = page.at(-1);
      if (!last || page.length < pageSize) return;
      if (range.direction === 'forward') fromVersion = last.version + 1;
      else toVersion = last.version - 1;
    }
  }

  /**
   * Every stream's events in commit order, fetched a page at a time. A reader that resumes after
   * the last position it saw never misses an event committed later (see the README on positions).
   */
  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<StoredEvent> {
    const {
      fromPosition,
      limit,
      pageSize: ownPageSize,
      ...filter
    } = parseOptions(ReadAllOptionsSchema, options, 'readAll', 'INVALID_ARGUMENT');
    const pageSize = ownPageSize ?? this.pageSize;
    let next = fromPosition;
    let left = limit ?? Number.POSITIVE_INFINITY;
    while (left > 0) {
      const wanted = Math.min(pageSize, left);
      const page = await this.readAllPage(filter, next, wanted);
      for (const raw of page) yield this.codec.decode(raw);
      const last = page.at(-1);
      if (!last || page.length < wanted) return;
      left -= page.length;
      next = last.position + 1;
    }
  }

  /**
   * Folds the stream into a state. With `snapshotEvery`, starts from the newest snapshot of the same
   * schemaVersion and writes a new one once that many events were folded on top of it.
   */
  async load<S, E extends StoredEvent = StoredEvent>(
    streamId: string,
    evolve: Evolve<S, E>,
    initial: S,
    options: LoadOptions = {},
  ): Promise<LoadedState<S>> {
    const { snapshotEvery, schemaVersion, snapshotName } = parseOptions(
      LoadOptionsSchema,
      options,
      'load',
      'INVALID_ARGUMENT',
    );
    const key: SnapshotKey = { streamId, name: snapshotName, schemaVersion };
    let state = initial;
    let version = 0;
    const snapshot = snapshotEvery ? await this.readSnapshot(key) : undefined;
    if (snapshot) {
      state = snapshot.state as S;
      version = snapshot.version;
    }
    const snapshotVersion = version;
    for await (const event of this.readStream(streamId, { fromVersion: version + 1 })) {
      state = evolve(state, event as E);
      version = event.version;
    }
    if (snapshotEvery && version - snapshotVersion >= snapshotEvery) {
      await this.writeSnapshot(key, version, JSON.stringify(state));
    }
    return { state, version, snapshotVersion };
  }

  /**
   * Time travel: the state after `{ version }`, or after the events that occurred at or before
   * `{ time }` (folding stops at the first event that occurred later). Always folds from the start.
   */
  async stateAt<S, E extends StoredEvent = StoredEvent>(
    streamId: string,
    evolve: Evolve<S, E>,
    initial: S,
    at: StateAt,
  ): Promise<LoadedState<S>> {
    const toVersion = 'version' in at ? at.version : undefined;
    if (toVersion !== undefined && !(Number.isInteger(toVersion) && toVersion >= 0)) {
      throw new EventportError('INVALID_ARGUMENT', `stateAt version must be a non-negative integer (got ${toVersion})`);
    }
    const time = 'time' in at ? at.time : undefined;
    let state = initial;
    let version = 0;
    if (toVersion === 0) return { state, version, snapshotVersion: 0 };
    for await (const event of this.readStream(streamId, toVersion === undefined ? {} : { toVersion })) {
      if (time && event.occurredAt > time) break;
      state = evolve(state, event as E);
      version = event.version;
    }
    return { state, version, snapshotVersion: 0 };
  }

  /**
   * Starts a catch-up subscription: applies every event after the projection's checkpoint, in
   * batches, each batch and its checkpoint in one transaction, then follows new events.
   */
  project(name: string, handler: ProjectionHandler<Tx>, options: ProjectOptions<Tx> = {}): Projection {
    parseArgument(z.string().min(1).max(200), name, 'projection name');
    if (this.projections.get(name)?.running) {
      throw new EventportError('ALREADY_EXISTS', `projection "${name}" is already running in this store`);
    }
    const runner = new ProjectionRunner(name, handler, options, this.projectionBackend(), this.logger);
    this.projections.set(name, runner);
    runner.start();
    return runner;
  }

  /** Resets a projection started with project() (its `reset` option and checkpoint) and replays it. */
  async rebuild(name: string, options: RebuildOptions = {}): Promise<{ applied: number; position: number }> {
    const runner = this.projections.get(name);
    if (!runner) {
      throw new EventportError('NOT_FOUND', `no projection "${name}" in this store: start it with project() first`);
    }
    return runner.rebuild(options);
  }

  /** Publishes stored events through an adapter, with their original ids (consumers drop repeats). */
  replay(options: ReplayOptions): Promise<ReplayResult> {
    if (!options?.to) throw new EventportError('INVALID_ARGUMENT', 'replay needs an adapter (options.to)');
    const { streamId, since, until, types } = options;
    const events =
      streamId === undefined
        ? this.readAll({ since, until, types })
        : filtered(this.readStream(streamId), { since, until, types });
    return replayEvents(events, options);
  }

  /** Stops this store's projections (each finishes its batch). Connections stay with their owner. */
  async close(): Promise<void> {
    await Promise.all([...this.projections.values()].map((runner) => runner.stop()));
  }

  private projectionBackend(): ProjectionBackend<Tx> {
    return {
      withCheckpoint: (name, work) => this.withCheckpoint(name, work),
      resetCheckpoint: (name, reset) => this.resetCheckpoint(name, reset),
      headPosition: (tx) => this.headPosition(tx),
      readBatch: async (fromPosition, limit, types, tx) => {
        const page = await this.readAllPage(types ? { types } : {}, fromPosition, limit, tx);
        return page.map((raw) => this.codec.decode(raw));
      },
    };
  }
}

function parseArgument<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new EventportError('INVALID_ARGUMENT', `invalid ${what}: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

async function* filtered(
  events: AsyncIterable<StoredEvent>,
  filter: Parameters<typeof matchesFilter>[1],
): AsyncGenerator<StoredEvent> {
  for await (const event of events) if (matchesFilter(event, filter)) yield event;
}
