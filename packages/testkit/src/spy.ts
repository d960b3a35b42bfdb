/**
 * A test double that records what goes through an adapter, for any test runner (jest, vitest,
 * node:test): it imports nothing from one, and waits with plain timers and promises.
 */
import {
  type BackendMeta,
  type EventAdapter,
  type EventMessage,
  EventportError,
  ForwardingAdapter,
  type Headers,
  type InvalidDelivery,
  InvalidMessageError,
  type MessageHandler,
  type PublishInput,
  type SubscribeOptions,
  type Subscription,
} from '@eventport/core';

/** A publish the broker accepted (dead letters included: they are publishes to `<topic>.dlq`). */
export interface SpiedPublish<T = unknown> extends EventMessage<T> {
  /** Order among everything this spy recorded. */
  readonly seq: number;
  /** Date.now() when it was recorded. */
  readonly at: number;
}

/** A delivery and how its handler ended. */
export interface SpiedDelivery<T = unknown> extends EventMessage<T> {
  /** CloudEvents source of the producer, when it set one. */
  source?: string;
  group: string;
  attempt: number;
  meta: BackendMeta;
  readonly seq: number;
  readonly at: number;
}

export interface SpiedNack<T = unknown> extends SpiedDelivery<T> {
  /** "threw": the handler threw `error`; "nack": it (or a consume() loop) called message.nack(). */
  how: 'threw' | 'nack';
  error?: unknown;
}

export interface SpiedInvalid extends InvalidDelivery {
  error: InvalidMessageError;
  readonly seq: number;
  readonly at: number;
}

/** A publish to a dead-letter topic, read back from its dlq-* headers. */
export interface SpiedDeadLetter<T = unknown> extends SpiedPublish<T> {
  /** The topic it failed on (dlq-original-topic; else the topic without ".dlq"). */
  originalTopic: string;
  /** "exhausted", "non-retryable", "invalid", or "unknown" when the header is missing. */
  reason: string;
  attempts: number;
  /** The recorded error: its class, code (when it had one) and message. */
  error: { class: string; code?: string; message: string };
  group?: string;
}

export interface SpyRecords {
  published: SpiedPublish[];
  consumed: SpiedDelivery[];
  nacked: SpiedNack[];
  invalid: SpiedInvalid[];
  deadLettered: SpiedDeadLetter[];
}

export type SpyKind = keyof SpyRecords;

/** What to wait for: a message id, or a predicate over the record. */
export type SpyMatcher<R> = string | ((record: R) => boolean);

export interface WaitOptions {
  /** Default 3 s: under the 5 s test timeout of jest and vitest, so the spy's error is the one you see. */
  timeoutMs?: number;
}

/** A waitFor… that timed out; the message lists what was seen instead. */
export class SpyTimeoutError extends EventportError {
  constructor(
    readonly kind: SpyKind,
    message: string,
    /** Counts per kind when it timed out. */
    readonly seen: Record<SpyKind, number>,
  ) {
    super('TIMEOUT', message);
  }
}

export const DEFAULT_WAIT_MS = 3_000;
const DEAD_LETTER_SUFFIX = '.dlq';
const IDS_SHOWN_PER_TOPIC = 10;

interface Waiter {
  kind: SpyKind;
  match: (record: never) => boolean;
  resolve: (record: never) => void;
  reject: (error: unknown) => void;
}

/**
 * Records publishes, consumptions (handler succeeded, so the message is acked), nacks, invalid
 * deliveries and dead letters, and lets a test wait for any of them. Put it directly on the broker's
 * adapter, under the other decorators, so it sees what reaches the broker, dead-letter publishes
 * included: `withDeadLetters(withSpy(adapter))`.
 */
export class SpyAdapter extends ForwardingAdapter {
  private readonly records: SpyRecords = { published: [], consumed: [], nacked: [], invalid: [], deadLettered: [] };
  private readonly waiters = new Set<Waiter>();
  private seq = 0;

  /** Every accepted publish, dead letters included, oldest first. */
  get published(): readonly SpiedPublish[] {
    return this.records.published;
  }
  /** Deliveries whose handler succeeded (acked); one that ended in a dead letter is in deadLettered instead. */
  get consumed(): readonly SpiedDelivery[] {
    return this.records.consumed;
  }
  /** Deliveries given back for redelivery: the handler threw or nacked. */
  get nacked(): readonly SpiedNack[] {
    return this.records.nacked;
  }
  /** Undecodable or schema-rejected deliveries (they reached onInvalid, or were left with the broker). */
  get invalid(): readonly SpiedInvalid[] {
    return this.records.invalid;
  }
  /** Publishes to a `.dlq` topic, with what their dlq-* headers say. */
  get deadLettered(): readonly SpiedDeadLetter[] {
    return this.records.deadLettered;
  }

  /** Forgets what was recorded (waits in progress keep waiting for new records). */
  clear(): void {
    for (const list of Object.values(this.records)) list.length = 0;
  }

  /** Counts per kind. */
  counts(): Record<SpyKind, number> {
    return {
      published: this.records.published.length,
      consumed: this.records.consumed.length,
      nacked: this.records.nacked.length,
      invalid: this.records.invalid.length,
      deadLettered: this.records.deadLettered.length,
    };
  }

  waitForPublished<T = unknown>(match: SpyMatcher<SpiedPublish<T>>, options?: WaitOptions): Promise<SpiedPublish<T>> {
    return this.waitFor('published', match, options);
  }
  waitForConsumed<T = unknown>(match: SpyMatcher<SpiedDelivery<T>>, options?: WaitOptions): Promise<SpiedDelivery<T>> {
    return this.waitFor('consumed', match, options);
  }
  waitForNacked<T = unknown>(match: SpyMatcher<SpiedNack<T>>, options?: WaitOptions): Promise<SpiedNack<T>> {
    return this.waitFor('nacked', match, options);
  }
  /** Matches an id against the ce-id header of the invalid delivery, when it has one. */
  waitForInvalid(match: SpyMatcher<SpiedInvalid>, options?: WaitOptions): Promise<SpiedInvalid> {
    return this.waitFor('invalid', match, options);
  }
  /** An id is the original message's id (a dead letter keeps it). */
  waitForDeadLettered<T = unknown>(
    match: SpyMatcher<SpiedDeadLetter<T>>,
    options?: WaitOptions,
  ): Promise<SpiedDeadLetter<T>> {
    return this.waitFor('deadLettered', match, options);
  }

  override async publish<T>(message: PublishInput<T>): Promise<EventMessage<T>> {
    const published = await this.inner.publish(message);
    this.recordPublish(published);
    return published;
  }

  override async publishBatch<T>(messages: readonly PublishInput<T>[]): Promise<EventMessage<T>[]> {
    const published = await this.inner.publishBatch(messages);
    for (const message of published) this.recordPublish(message);
    return published;
  }

  override subscribe<T = unknown>(
    topic: string,
    handler: MessageHandler<T>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    const hook = options.onInvalid;
    return this.inner.subscribe<T>(topic, this.spyOn(handler), {
      ...options,
      // Recorded either way; without a hook of yours it stays with the broker, as it would without the spy.
      onInvalid: async (error, delivery) => {
        this.record('invalid', { ...delivery, error });
        if (!hook) throw error;
        await hook(error, delivery);
      },
    });
  }

  private spyOn<T>(handler: MessageHandler<T>): MessageHandler<T> {
    return async (message) => {
      let settled: 'ack' | 'nack' | undefined;
      const { ack, nack } = message;
      message.ack = () => {
        settled ??= 'ack';
        return ack();
      };
      message.nack = (nackOptions) => {
        settled ??= 'nack';
        return nack(nackOptions);
      };
      const since = this.seq;
      const snapshot = () => ({
        id: message.id,
        topic: message.topic,
        data: message.data,
        ...(message.key === undefined ? {} : { key: message.key }),
        ...(message.type === undefined ? {} : { type: message.type }),
        ...(message.source === undefined ? {} : { source: message.source }),
        headers: { ...message.headers },
        timestamp: message.timestamp,
        group: message.group,
        attempt: message.attempt,
        meta: message.meta,
      });
      try {
        await handler(message);
      } catch (error) {
        if (settled === 'ack') this.recordSuccess(snapshot(), since);
        else if (settled === 'nack') this.record('nacked', { ...snapshot(), how: 'nack' });
        // Routed to onInvalid, where it is recorded.
        else if (!(error instanceof InvalidMessageError)) this.record('nacked', { ...snapshot(), how: 'threw', error });
        throw error;
      }
      if (settled === 'nack') this.record('nacked', { ...snapshot(), how: 'nack' });
      else this.recordSuccess(snapshot(), since);
    };
  }

  /** A handler that resolved after a dead letter of its message was published (a decorator above gave up) did not consume it. */
  private recordSuccess(delivery: Omit<SpiedDelivery, 'seq' | 'at'>, since: number): void {
    const deadLettered = this.records.deadLettered.some(
      (letter) => letter.seq > since && letter.id === delivery.id && letter.originalTopic === delivery.topic,
    );
    if (!deadLettered) this.record('consumed', delivery);
  }

  private recordPublish(message: EventMessage<unknown>): void {
    const published = this.record('published', { ...message, headers: { ...message.headers } });
    if (!message.topic.endsWith(DEAD_LETTER_SUFFIX)) return;
    const headers = message.headers;
    const code = headers['dlq-error-code'];
    const errorClass = headers['dlq-error-class'] ?? '';
    let errorMessage = headers['dlq-error-message'] ?? '';
    if (errorClass && errorMessage.startsWith(`${errorClass}: `))
      errorMessage = errorMessage.slice(errorClass.length + 2);
    this.record('deadLettered', {
      ...published,
      originalTopic: headers['dlq-original-topic'] ?? message.topic.slice(0, -DEAD_LETTER_SUFFIX.length),
      reason: headers['dlq-reason'] ?? 'unknown',
      attempts: Number(headers['dlq-attempts'] ?? 0),
      error: { class: errorClass, ...(code === undefined ? {} : { code }), message: errorMessage },
      ...(headers['dlq-group'] === undefined ? {} : { group: headers['dlq-group'] }),
    });
  }

  private record<K extends SpyKind>(kind: K, fields: Omit<SpyRecords[K][number], 'seq' | 'at'>): SpyRecords[K][number] {
    const record = { ...fields, seq: ++this.seq, at: Date.now() } as SpyRecords[K][number];
    (this.records[kind] as SpyRecords[K][number][]).push(record);
    for (const waiter of [...this.waiters]) {
      if (waiter.kind !== kind) continue;
      let matched: boolean;
      try {
        matched = (waiter.match as (record: SpyRecords[K][number]) => boolean)(record);
      } catch (error) {
        waiter.reject(error);
        continue;
      }
      if (matched) (waiter.resolve as (record: SpyRecords[K][number]) => void)(record);
    }
    return record;
  }

  private waitFor<R>(kind: SpyKind, matcher: SpyMatcher<R>, options: WaitOptions = {}): Promise<R> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
    const match = toPredicate(kind, matcher);
    const seenAlready = (this.records[kind] as unknown as R[]).find((record) => match(record));
    if (seenAlready !== undefined) return Promise.resolve(seenAlready);
    return new Promise<R>((resolve, reject) => {
      const waiter: Waiter = {
        kind,
        match: match as (record: never) => boolean,
        resolve: ((record: R) => {
          settle();
          resolve(record);
        }) as (record: never) => void,
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        settle();
        reject(this.timeoutError(kind, matcher, timeoutMs));
      }, timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
    });
  }

  private timeoutError(kind: SpyKind, matcher: SpyMatcher<never>, timeoutMs: number): SpyTimeoutError {
    const wanted = typeof matcher === 'string' ? `id "${matcher}"` : describePredicate(matcher);
    const lines = [
      `${waitName(kind)} timed out after ${timeoutMs} ms: no ${KIND_LABEL[kind]} message matched ${wanted}.`,
      'Seen instead:',
      ...(Object.keys(this.records) as SpyKind[]).map((each) => `  ${summarize(each, this.records[each])}`),
    ];
    if (kind === 'deadLettered' && !this.records.published.some((each) => each.topic.endsWith(DEAD_LETTER_SUFFIX))) {
      lines.push(
        'No publish to a .dlq topic went through this spy: put it under the dead-letter decorator, withDeadLetters(withSpy(adapter)), so it sees dead letters.',
      );
    }
    return new SpyTimeoutError(kind, lines.join('\n'), this.counts());
  }
}

/** Wraps `adapter` in a SpyAdapter (or returns it, when it is one already). */
export function withSpy(adapter: EventAdapter): SpyAdapter {
  return adapter instanceof SpyAdapter ? adapter : new SpyAdapter(adapter);
}

const KIND_LABEL: Record<SpyKind, string> = {
  published: 'published',
  consumed: 'consumed',
  nacked: 'nacked',
  invalid: 'invalid',
  deadLettered: 'dead-lettered',
};

function waitName(kind: SpyKind): string {
  return `waitFor${kind[0]?.toUpperCase()}${kind.slice(1)}`;
}

function toPredicate<R>(kind: SpyKind, matcher: SpyMatcher<R>): (record: R) => boolean {
  if (typeof matcher === 'function') return matcher;
  if (typeof matcher !== 'string') {
    throw new EventportError('INVALID_ARGUMENT', `${waitName(kind)} takes a message id or a predicate`);
  }
  return (record) => idOf(record) === matcher;
}

function idOf(record: unknown): string | undefined {
  const { id, headers } = record as { id?: string; headers?: Headers };
  return id ?? headers?.['ce-id'];
}

function describePredicate(predicate: (record: never) => boolean): string {
  const source = String(predicate).replace(/\s+/g, ' ').trim();
  return source.length > 120 ? `${source.slice(0, 117)}...` : source;
}

/** "nacked 3: orders.placed ×2 (id a ×2), orders.paid ×1 (id c)". */
function summarize(kind: SpyKind, records: readonly unknown[]): string {
  if (records.length === 0) return `${KIND_LABEL[kind]} 0`;
  const byTopic = new Map<string, string[]>();
  for (const record of records) {
    const topic = (record as { topic: string }).topic;
    const ids = byTopic.get(topic) ?? [];
    ids.push(idOf(record) ?? '?');
    byTopic.set(topic, ids);
  }
  const topics = [...byTopic].map(([topic, ids]) => {
    // Each id once, with how often it was seen (a redelivered message is nacked more than once).
    const times = new Map<string, number>();
    for (const id of ids) times.set(id, (times.get(id) ?? 0) + 1);
    const unique = [...times];
    const shown = unique
      .slice(0, IDS_SHOWN_PER_TOPIC)
      .map(([id, count]) => (count > 1 ? `${id} ×${count}` : id))
      .join(', ');
    const more = unique.length > IDS_SHOWN_PER_TOPIC ? ` and ${unique.length - IDS_SHOWN_PER_TOPIC} more` : '';
    return `${topic} ×${ids.length} (${unique.length === 1 ? 'id' : 'ids'} ${shown}${more})`;
  });
  let detail = '';
  if (kind === 'nacked') {
    const last = records[records.length - 1] as SpiedNack;
    detail = last.how === 'threw' ? `; last error: ${errorText(last.error)}` : '; last one nacked explicitly';
  } else if (kind === 'invalid') {
    detail = `; last error: ${(records[records.length - 1] as SpiedInvalid).error.message}`;
  } else if (kind === 'deadLettered') {
    const last = records[records.length - 1] as SpiedDeadLetter;
    detail = `; last: ${last.reason} from ${last.originalTopic}`;
  }
  return `${KIND_LABEL[kind]} ${records.length}: ${topics.join(', ')}${detail}`;
}

function errorText(error: unknown): string {
  if (error instanceof EventportError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
