import { AsyncLocalStorage } from 'node:async_hooks';
import {
  configFields,
  consoleLogger,
  describeError,
  EventportError,
  InvalidMessageError,
  type Logger,
  type MessageHandler,
  parseOptions,
  type ReceivedMessage,
} from '@eventport/core';
import { z } from 'zod';
import { type DuplicateCounter, duplicateCounter, type PromRegistry } from './prometheus.js';
import type { InboxEntry, InboxStore } from './store.js';

/** A handler run by the inbox: `tx` is the store's transaction handle (a pg client for PostgreSQL). */
export type InboxHandler<T = unknown, Tx = unknown> = (message: ReceivedMessage<T>, tx: Tx) => Promise<void> | void;

/** A delivery the inbox acked without running the handler. */
export interface InboxDuplicate {
  topic: string;
  group: string;
  /** The dedupe key that was already recorded (the message id unless a key function is set). */
  key: string;
  /** The message id as received. */
  id: string;
  /** The broker's delivery attempt (see the backend's deliveryCount capability). */
  attempt: number;
  store: string;
}

export interface InboxOptions<Tx = unknown> {
  store: InboxStore<Tx>;
  /**
   * The dedupe key of a message within its group. Default: `message.id`, the id eventport sets on
   * publish and keeps through the outbox relay, DLQ replay and event-store replay. Messages from
   * producers that are not eventport carry the broker's own id instead (new for every publish), so
   * name a key of theirs here, e.g. `(message) => (message.data as Order).orderId`.
   */
  key?: (message: ReceivedMessage<unknown>) => string;
  /** Called once per duplicate dropped (it is acked when the handler returns); a throwing callback is logged, never fatal. */
  onDuplicate?: (duplicate: InboxDuplicate) => void;
  /**
   * A prom-client Registry: registers `eventport_inbox_duplicates_total{topic, group, store}` in it
   * (pass the one @eventport/metrics uses and both show up on the same /metrics).
   */
  registry?: PromRegistry;
  /** The `topic` label of a topic. Default: the topic. Map topics that embed ids to a pattern. */
  topicLabel?: (topic: string) => string;
  logger?: Logger;
}

/** Totals since the inbox was created. */
export interface InboxStats {
  /** Deliveries whose handler ran and committed with their record. */
  handled: number;
  /** Deliveries acked without running the handler. */
  duplicates: number;
  /** Redis store only: the handler ran while another delivery of the same key did (the effect ran twice). */
  raced: number;
  /** The same, per topic and group. */
  byTopicGroup: Array<{ topic: string; group: string; handled: number; duplicates: number; raced: number }>;
}

interface HandlingContext {
  tx: unknown;
  group: string;
  key: string;
  id: string;
}

const storage = new AsyncLocalStorage<HandlingContext>();

/**
 * The transaction handle of the inbox handler running in this async call chain: the pg client
 * inside the inbox's transaction for the PostgreSQL store. For handlers subscribed through
 * decorators that call them with the message only (withMetrics, withDeadLetters above withInbox).
 */
export function inboxTransaction<Tx = unknown>(): Tx {
  const context = storage.getStore();
  if (!context) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      'inboxTransaction() called outside an inbox handler: call it inside a handler wrapped by inbox.handler() or subscribed through withInbox()',
    );
  }
  return context.tx as Tx;
}

/** The message the inbox is handling in this async call chain, if any (for the decorator's own checks). */
export function currentInboxMessage(): { group: string; key: string; id: string } | undefined {
  const context = storage.getStore();
  return context ? { group: context.group, key: context.key, id: context.id } : undefined;
}

const isFunction = (value: unknown) => typeof value === 'function';
const InboxOptionsSchema = z.strictObject({
  store: z.custom<InboxStore<unknown>>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      isFunction((value as InboxStore).process) &&
      typeof (value as InboxStore).kind === 'string',
    'must be an inbox store (PostgresInboxStore, RedisInboxStore, MemoryInboxStore or your own InboxStore)',
  ),
  key: configFields.callback().optional(),
  onDuplicate: configFields.callback().optional(),
  topicLabel: configFields.callback().optional(),
  registry: z
    .custom(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        isFunction((value as PromRegistry).getSingleMetric) &&
        isFunction((value as PromRegistry).registerMetric),
      'must be a prom-client Registry',
    )
    .optional(),
  logger: configFields.object('must be a Logger').optional(),
});

/** Raised inside the store's effect when the handler nacked: the transaction rolls back, nothing is recorded. */
class HandlerNacked extends Error {}

type Totals = { handled: number; duplicates: number; raced: number };

/**
 * Effectively-once handling over at-least-once delivery: `inbox.handler(fn)` runs `fn` at most once
 * per (group, key) as far as its store can tell (see each store), and acks duplicates without
 * running it. The wrapper is the innermost layer around your code, so it works under any stack of
 * decorators: withDeadLetters retries call it once per attempt (each attempt is its own
 * transaction), withMetrics counts its outcome.
 */
export class Inbox<Tx = unknown> {
  readonly store: InboxStore<Tx>;
  private readonly keyOf: (message: ReceivedMessage<unknown>) => string;
  private readonly onDuplicate: ((duplicate: InboxDuplicate) => void) | undefined;
  private readonly counter: DuplicateCounter | undefined;
  private readonly topicLabel: (topic: string) => string;
  private readonly logger: Logger;
  private readonly totals: Totals = { handled: 0, duplicates: 0, raced: 0 };
  private readonly perTopicGroup = new Map<string, Totals & { topic: string; group: string }>();

  constructor(options: InboxOptions<Tx>) {
    parseOptions(InboxOptionsSchema, options, 'inbox', 'INVALID_ARGUMENT');
    this.store = options.store;
    this.keyOf = options.key ?? ((message) => message.id);
    this.onDuplicate = options.onDuplicate;
    this.counter = options.registry ? duplicateCounter(options.registry) : undefined;
    this.topicLabel = options.topicLabel ?? ((topic) => topic);
    this.logger = options.logger ?? consoleLogger();
  }

  stats(): InboxStats {
    return {
      ...this.totals,
      byTopicGroup: [...this.perTopicGroup.values()].map((entry) => ({ ...entry })),
    };
  }

  /**
   * Wraps `fn` for adapter.subscribe(): the store records the message's (group, key) together with
   * `fn`'s effect, or acks a duplicate without calling `fn`. Inside `fn`, ack() is deferred to the
   * end of the transaction (the message is acked when the wrapper resolves) and nack() rolls the
   * transaction back before the message is handed back to the broker.
   */
  handler<T = unknown>(fn: InboxHandler<T, Tx>): MessageHandler<T> {
    return async (message) => {
      const entry: InboxEntry = { group: message.group, key: this.keyFor(message), topic: message.topic };
      const active = storage.getStore();
      if (active && active.group === entry.group && active.key === entry.key) {
        // The outer run holds the record uncommitted; the inner one would wait on it forever.
        throw new EventportError(
          'INVALID_ARGUMENT',
          'two inboxes wrap the same handler (withInbox applied twice, or inbox.handler() subscribed through withInbox): use one',
        );
      }
      let nacked: { delayMs?: number } | undefined;
      let outcome: Awaited<ReturnType<InboxStore<Tx>['process']>>;
      try {
        outcome = await this.store.process(entry, async (tx) => {
          const view: ReceivedMessage<T> = {
            ...message,
            ack: async () => {},
            nack: async (options) => {
              nacked ??= options ?? {};
            },
          };
          await storage.run({ tx, group: entry.group, key: entry.key, id: message.id }, () => fn(view, tx));
          if (nacked) throw new HandlerNacked();
        });
      } catch (error) {
        if (error instanceof HandlerNacked && nacked) {
          await message.nack(nacked);
          return;
        }
        throw error;
      }
      this.count(message, entry, outcome);
    };
  }

  private keyFor(message: ReceivedMessage<unknown>): string {
    let key: unknown;
    try {
      key = this.keyOf(message);
    } catch (error) {
      throw new InvalidMessageError(`inbox key function failed on message ${message.id}: ${describeError(error)}`, {
        cause: error,
      });
    }
    if (typeof key !== 'string' || key.length === 0) {
      // Never deduplicable: it goes where undecodable messages go (onInvalid / the dead-letter topic).
      throw new InvalidMessageError(`inbox key function returned no key for message ${message.id} on ${message.topic}`);
    }
    return key;
  }

  private count(message: ReceivedMessage<unknown>, entry: InboxEntry, outcome: 'handled' | 'duplicate' | 'raced') {
    const mapKey = `${message.topic}\u0000${entry.group}`;
    let perTopic = this.perTopicGroup.get(mapKey);
    if (!perTopic) {
      perTopic = { topic: message.topic, group: entry.group, handled: 0, duplicates: 0, raced: 0 };
      this.perTopicGroup.set(mapKey, perTopic);
    }
    if (outcome === 'handled') {
      this.totals.handled++;
      perTopic.handled++;
      return;
    }
    if (outcome === 'raced') {
      this.totals.raced++;
      perTopic.raced++;
      this.logger.warn('inbox: another delivery recorded this message while its handler ran; the effect ran twice', {
        topic: message.topic,
        group: entry.group,
        key: entry.key,
        store: this.store.kind,
      });
      return;
    }
    this.totals.duplicates++;
    perTopic.duplicates++;
    this.counter?.inc({ topic: this.label(message.topic), group: entry.group, store: this.store.kind });
    if (!this.onDuplicate) return;
    try {
      this.onDuplicate({
        topic: message.topic,
        group: entry.group,
        key: entry.key,
        id: message.id,
        attempt: message.attempt,
        store: this.store.kind,
      });
    } catch (error) {
      this.logger.warn('inbox onDuplicate callback threw', { error: describeError(error) });
    }
  }

  private label(topic: string): string {
    try {
      return this.topicLabel(topic);
    } catch {
      return 'unlabeled';
    }
  }
}

/** `new Inbox(options)`. */
export function createInbox<Tx>(options: InboxOptions<Tx>): Inbox<Tx> {
  return new Inbox(options);
}
