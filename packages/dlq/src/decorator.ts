import {
  describeError,
  type EventAdapter,
  EventportError,
  ForwardingAdapter,
  findDecorator,
  type InvalidDelivery,
  InvalidMessageError,
  isEventportError,
  jsonCodec,
  type MessageHandler,
  type PublishInput,
  pause,
  RESERVED_HEADERS,
  type ReceivedMessage,
  runOutsideMessageContext,
  type SubscribeOptions,
  type Subscription,
  subscriptionWithClose,
  TopicSchema,
} from '@eventport/core';
import type { IBackoff } from 'cockatiel';
import { DLQ_HEADERS, type FailureRecord, failureHeaders, publishableHeaders } from './headers.js';

/** How much of a body too large for the dead-letter topic its letter keeps. */
const TRUNCATED_BODY_BYTES = 64 * 1024;

import { type DeadLetterPolicy, REPLAY_GROUP, type ResolvedDeadLetterPolicy, resolvePolicy } from './options.js';

/** Raised in place of the handler's error when a consume() caller nacks a message. */
export class ConsumerNackError extends EventportError {
  constructor(topic: string) {
    super('INTERNAL', `the consumer nacked the message on "${topic}"`);
  }
}

/** The reason recorded when a message comes back more often than maxAttempts allows (e.g. a crash loop). */
export class DeliveryLimitError extends EventportError {
  constructor(topic: string, deliveries: number) {
    super('INTERNAL', `message on "${topic}" was delivered ${deliveries} times without being handled`);
  }
}

/**
 * Retries a failing handler in-process with exponential backoff, then publishes the message to
 * `<topic><suffix>` and acks the original, so a poison message is never lost and never loops.
 */
export function withDeadLetters(adapter: EventAdapter, policy: DeadLetterPolicy = {}): DeadLetterAdapter {
  // Applied twice, retries would multiply (N x N runs) and letters would be written twice.
  if (findDecorator(adapter, DeadLetterAdapter)) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      'the adapter already has dead letters (withDeadLetters applied twice); configure one policy',
    );
  }
  return new DeadLetterAdapter(adapter, policy);
}

/** PublishInputSchema's limit on ids. */
const MAX_ID_LENGTH = 256;

type Outcome = { ok: true } | { ok: false; error: unknown };

export class DeadLetterAdapter extends ForwardingAdapter {
  private readonly policy: ResolvedDeadLetterPolicy;
  /** Aborted on close/disconnect so retries waiting out a backoff give their message back at once. */
  private readonly activeRetries = new Set<AbortController>();
  private readonly preparedGroups = new Map<string, Promise<void>>();

  constructor(inner: EventAdapter, policy: DeadLetterPolicy = {}) {
    super(inner);
    this.policy = resolvePolicy(policy);
  }

  /** Where the dead letters of `topic` go. */
  deadLetterTopic(topic: string): string {
    return `${topic}${this.policy.suffix}`;
  }

  override async subscribe<T = unknown>(
    topic: string,
    handler: MessageHandler<T>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    // A dead-letter topic's own consumers (replay, monitoring) see it unchanged: no .dlq.dlq chains.
    if (topic.endsWith(this.policy.suffix)) return this.inner.subscribe(topic, handler, options);
    if (!TopicSchema.safeParse(topic).success) {
      throw new EventportError('INVALID_ARGUMENT', `invalid topic "${topic}" (letters, digits, ".", "_", "-"; 1-200)`);
    }
    const deadLetterTopic = this.deadLetterTopic(topic);
    if (!TopicSchema.safeParse(deadLetterTopic).success) {
      throw new EventportError(
        'INVALID_ARGUMENT',
        `dead-letter topic "${deadLetterTopic}" for "${topic}" is not a valid topic name (max 200 characters)`,
      );
    }
    await this.prepareDeadLetterGroup(deadLetterTopic);

    const retries = new AbortController();
    this.activeRetries.add(retries);
    let inner: Subscription;
    try {
      inner = await this.inner.subscribe<T>(
        topic,
        (message) => this.handleWithRetries(message, handler, deadLetterTopic, retries.signal),
        {
          ...options,
          onInvalid:
            options.onInvalid ?? ((error, delivery) => this.deadLetterInvalid(error, delivery, deadLetterTopic)),
        },
      );
    } catch (error) {
      this.activeRetries.delete(retries);
      throw error;
    }
    const activeRetries = this.activeRetries;
    return subscriptionWithClose(inner, () => {
      retries.abort();
      activeRetries.delete(retries);
      return inner.close();
    });
  }

  override async disconnect(): Promise<void> {
    for (const retries of this.activeRetries) retries.abort();
    this.activeRetries.clear();
    await this.inner.disconnect();
  }

  /**
   * Makes sure the replay group of the dead-letter topic exists before the first dead letter does,
   * so listDeadLetters()/replay() see it even on brokers that cannot replay from the start (a
   * RabbitMQ queue, for one, only holds what arrived after it was declared).
   */
  private prepareDeadLetterGroup(deadLetterTopic: string): Promise<void> {
    let prepared = this.preparedGroups.get(deadLetterTopic);
    if (!prepared) {
      prepared = (async () => {
        const subscription = await this.inner.subscribe(
          deadLetterTopic,
          () => {
            // Anything delivered in this instant goes back to the broker untouched.
            throw new EventportError('UNSUPPORTED', 'the dead-letter group is only being prepared');
          },
          {
            group: REPLAY_GROUP,
            fromBeginning: this.inner.capabilities.replayFromStart,
            concurrency: 1,
            redeliveryDelayMs: () => 0,
          },
        );
        await subscription.close();
      })();
      this.preparedGroups.set(deadLetterTopic, prepared);
      prepared.catch(() => this.preparedGroups.delete(deadLetterTopic));
    }
    return prepared;
  }

  private async handleWithRetries<T>(
    message: ReceivedMessage<T>,
    handler: MessageHandler<T>,
    deadLetterTopic: string,
    signal: AbortSignal,
  ): Promise<void> {
    const { maxAttempts } = this.policy;
    // Earlier deliveries each used an attempt (a crashed consumer, a failed dead-letter publish).
    let attempts = Math.max(0, message.attempt - 1);
    let firstFailureAt: Date | undefined;
    if (attempts >= maxAttempts) {
      const now = new Date();
      await this.deadLetter(message, deadLetterTopic, {
        reason: 'exhausted',
        error: new DeliveryLimitError(message.topic, attempts),
        attempts,
        firstFailureAt: now,
        lastFailureAt: now,
      });
      return;
    }
    let backoff: IBackoff<unknown> | undefined;
    while (true) {
      attempts++;
      const outcome = await this.runOnce(message, handler, attempts);
      if (outcome.ok) return;
      const { error } = outcome;
      const failedAt = new Date();
      firstFailureAt ??= failedAt;
      // Raw body and all: the subscription's onInvalid path dead-letters it.
      if (error instanceof InvalidMessageError) throw error;
      // Shutting down: give the message back; the broker's delivery count carries the attempts over.
      if (signal.aborted) throw error;
      const failure = { error, attempts, firstFailureAt, lastFailureAt: failedAt };
      if (this.policy.isNonRetryable(error)) {
        await this.deadLetter(message, deadLetterTopic, { ...failure, reason: 'non-retryable' });
        return;
      }
      if (attempts >= maxAttempts) {
        await this.deadLetter(message, deadLetterTopic, { ...failure, reason: 'exhausted' });
        return;
      }
      backoff = backoff ? backoff.next(undefined) : this.policy.backoff.next(undefined);
      if (!(await pause(backoff.duration, signal))) throw error;
    }
  }

  /** One handler run on a copy whose attempt counts in-process retries and whose nack means "failed". */
  private async runOnce<T>(message: ReceivedMessage<T>, handler: MessageHandler<T>, attempt: number): Promise<Outcome> {
    let acked = false;
    let nacked = false;
    const copy: ReceivedMessage<T> = {
      ...message,
      headers: { ...message.headers },
      attempt,
      ack: () => {
        acked = true;
        return message.ack();
      },
      nack: async () => {
        if (!acked) nacked = true;
      },
    };
    try {
      await handler(copy);
    } catch (error) {
      if (acked) return { ok: true };
      return { ok: false, error };
    }
    return nacked ? { ok: false, error: new ConsumerNackError(message.topic) } : { ok: true };
  }

  /** Publishes the dead letter; a failure propagates so the original is nacked, never acked and lost. */
  private async deadLetter<T>(
    message: ReceivedMessage<T>,
    deadLetterTopic: string,
    failure: Omit<FailureRecord, 'originalTopic' | 'group' | 'key'>,
  ): Promise<void> {
    const record: FailureRecord = { ...failure, originalTopic: message.topic, group: message.group };
    if (message.key !== undefined) record.key = message.key;
    await this.publishDeadLetter(message.topic, {
      topic: deadLetterTopic,
      id: message.id,
      timestamp: message.timestamp,
      headers: { ...publishableHeaders(message.headers), ...failureHeaders(record) },
      data: message.data,
    });
    this.policy.logger.warn('message dead-lettered', {
      topic: message.topic,
      deadLetterTopic,
      id: message.id,
      reason: failure.reason,
      attempts: failure.attempts,
    });
  }

  /**
   * Published outside the handler's message context, so the letter keeps the original's correlation
   * headers instead of gaining a causation-id that points at itself.
   */
  private async publishDeadLetter(originalTopic: string, letter: PublishInput<unknown>): Promise<void> {
    try {
      try {
        await runOutsideMessageContext(() => this.inner.publish(letter));
      } catch (error) {
        if (!isEventportError(error, 'PAYLOAD_TOO_LARGE')) throw error;
        // A letter that cannot land would send the original round forever: it lands with its first bytes,
        // as many as the dead-letter topic takes (each refusal cuts to a quarter).
        for (let keep = TRUNCATED_BODY_BYTES; ; keep = Math.floor(keep / 4)) {
          try {
            await runOutsideMessageContext(() => this.inner.publish(this.truncated(letter, keep)));
            break;
          } catch (tooLarge) {
            if (!isEventportError(tooLarge, 'PAYLOAD_TOO_LARGE') || keep < 1_024) throw tooLarge;
          }
        }
        this.policy.logger.warn('dead letter too large for its topic; stored with its body truncated', {
          topic: originalTopic,
          deadLetterTopic: letter.topic,
          id: letter.id,
        });
      }
    } catch (error) {
      // Loud: the original stays with the broker and comes back until this works.
      this.policy.logger.error('dead-letter publish failed; the message stays on its topic', {
        topic: originalTopic,
        deadLetterTopic: letter.topic,
        id: letter.id,
        error: describeError(error),
      });
      throw error;
    }
  }

  /** The letter with its body cut to its first `keep` bytes, as raw bytes, and headers that say so. */
  private truncated(letter: PublishInput<unknown>, keep: number): PublishInput<unknown> {
    const body = Buffer.isBuffer(letter.data) ? letter.data : jsonCodec.encode(letter.data).body;
    return {
      ...letter,
      data: body.subarray(0, keep),
      headers: {
        ...letter.headers,
        [DLQ_HEADERS.truncated]: 'true',
        [DLQ_HEADERS.originalBytes]: String(body.length),
      },
    };
  }

  /** Undecodable or schema-rejected: the raw bytes go to the dead-letter topic, binary-safe. */
  private async deadLetterInvalid(
    error: InvalidMessageError,
    delivery: InvalidDelivery,
    deadLetterTopic: string,
  ): Promise<void> {
    const now = new Date();
    const {
      [RESERVED_HEADERS.id]: id,
      [RESERVED_HEADERS.time]: time,
      [RESERVED_HEADERS.contentType]: contentType,
      ...headers
    } = delivery.headers;
    const record: FailureRecord = {
      reason: 'invalid',
      error,
      attempts: delivery.attempt,
      firstFailureAt: now,
      lastFailureAt: now,
      originalTopic: delivery.topic,
      group: delivery.group,
      originalContentType: contentType ?? '',
    };
    if (delivery.key !== undefined) record.key = delivery.key;
    const timestamp = time === undefined ? Number.NaN : Date.parse(time);
    // A foreign producer's id or time that eventport could not publish is replaced, not fatal.
    await this.publishDeadLetter(delivery.topic, {
      topic: deadLetterTopic,
      ...(id && id.length <= MAX_ID_LENGTH ? { id } : {}),
      ...(Number.isInteger(timestamp) && timestamp >= 0 ? { timestamp } : {}),
      headers: { ...publishableHeaders(headers), ...failureHeaders(record) },
      data: delivery.body,
    });
    this.policy.logger.warn('invalid message dead-lettered', {
      topic: delivery.topic,
      deadLetterTopic,
      id,
      error: error.message,
    });
  }
}
