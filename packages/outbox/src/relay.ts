import {
  type Codec,
  consoleLogger,
  describeError,
  type EventAdapter,
  isEventportError,
  jsonCodec,
  type Logger,
  type PublishInput,
  parseOptions,
} from '@eventport/core';
import { decorrelatedJitterGenerator, ExponentialBackoff, type IBackoff } from 'cockatiel';
import { z } from 'zod';
import type { OutboxRecord, OutboxStore } from './store.js';

export interface OutboxRelayOptions {
  store: OutboxStore<never>;
  /** Any adapter (or decorated adapter); the relay only publishes. */
  adapter: Pick<EventAdapter, 'publishBatch'>;
  /** Events claimed and published per round. Default 100. */
  batchSize?: number;
  /** How often to look for new events when idle (and not woken by a notification). Default 1 s. */
  pollIntervalMs?: number;
  /** Wake up on store notifications (PostgreSQL LISTEN/NOTIFY) instead of waiting for the next poll. Default true. */
  listen?: boolean;
  /** Backoff after a failed round (broker or database down): exponential with jitter between these. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Deletes published events older than retainMs, every intervalMs (default 1 min). Off by default. */
  cleanup?: { retainMs: number; intervalMs?: number };
  /** Decodes stored payloads back to data; must match the store's codec. Default JSON. */
  codec?: Codec;
  logger?: Logger;
  /** Failed rounds and lost notification connections; default logs a warning. */
  onError?: (error: unknown) => void;
}

const nonNegative = z.number().nonnegative();
const required = z.custom((value) => Boolean(value), 'is required');

const OutboxRelayOptionsSchema = z
  .object({
    store: required,
    adapter: required,
    batchSize: z.number().int().positive().default(100),
    pollIntervalMs: nonNegative.default(1_000),
    initialBackoffMs: nonNegative.default(200),
    maxBackoffMs: nonNegative.default(30_000),
    cleanup: z.object({ retainMs: nonNegative, intervalMs: nonNegative.default(60_000) }).optional(),
  })
  .refine((options) => options.maxBackoffMs >= options.initialBackoffMs, {
    path: ['maxBackoffMs'],
    message: 'must be at least initialBackoffMs',
  });

/**
 * Publishes outbox events through an adapter: claims a batch, publishes it with each event's id as
 * the message id, marks it published, repeats. A crash between publish and mark publishes the batch
 * again (at-least-once; consumers dedupe on the id). Several relays may run at once.
 */
export class OutboxRelay {
  private readonly store: OutboxStore<never>;
  private readonly adapter: Pick<EventAdapter, 'publishBatch'>;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly listen: boolean;
  private readonly backoff: ExponentialBackoff<unknown>;
  private readonly cleanup: { retainMs: number; intervalMs: number } | undefined;
  private readonly codec: Codec;
  private readonly logger: Logger;
  private readonly onError: (error: unknown) => void;

  private running: Promise<void> | undefined;
  private stopping = false;
  private notified = false;
  private listenUnavailable = false;
  private wakeUp: (() => void) | undefined;
  private stopWatching: (() => Promise<void>) | undefined;
  private lastCleanup = 0;
  private publishedCount = 0;

  constructor(options: OutboxRelayOptions) {
    const resolved = parseOptions(OutboxRelayOptionsSchema, options, 'outbox relay', 'INVALID_ARGUMENT');
    this.store = options.store;
    this.adapter = options.adapter;
    this.batchSize = resolved.batchSize;
    this.pollIntervalMs = resolved.pollIntervalMs;
    this.listen = options.listen ?? true;
    this.backoff = new ExponentialBackoff({
      initialDelay: resolved.initialBackoffMs,
      maxDelay: resolved.maxBackoffMs,
      generator: decorrelatedJitterGenerator,
    });
    this.cleanup = resolved.cleanup;
    this.codec = options.codec ?? jsonCodec;
    this.logger = options.logger ?? consoleLogger();
    this.onError =
      options.onError ?? ((error) => this.logger.warn('outbox relay round failed', { error: describeError(error) }));
  }

  /** Events this relay published (and marked) so far. */
  get published(): number {
    return this.publishedCount;
  }

  /** Starts the background loop. Calling it again while running does nothing. */
  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.running = this.loop();
  }

  /** Finishes the round in progress (its batch is published and marked), then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.running;
    this.running = undefined;
    await this.stopWatching?.();
    this.stopWatching = undefined;
  }

  /** Publishes one batch; resolves with how many events it published. */
  async runOnce(): Promise<number> {
    this.notified = false;
    const count = await this.store.processBatch(this.batchSize, (records) => this.publish(records));
    this.publishedCount += count;
    return count;
  }

  /** Publishes until no pending event is left (for scripts, tests and shutdown hooks). */
  async publishPending(): Promise<number> {
    let total = 0;
    while (true) {
      const count = await this.runOnce();
      total += count;
      if (count < this.batchSize) return total;
    }
  }

  private async publish(records: readonly OutboxRecord[]): Promise<void> {
    const messages = records.map((record): PublishInput => {
      const message: PublishInput = {
        topic: record.topic,
        id: record.id,
        headers: record.headers,
        timestamp: record.createdAt.getTime(),
        data: this.codec.decode(record.payload, record.contentType),
      };
      if (record.key !== undefined) message.key = record.key;
      return message;
    });
    await this.adapter.publishBatch(messages);
  }

  private async loop(): Promise<void> {
    let backoff: IBackoff<unknown> | undefined;
    while (!this.stopping) {
      let pauseMs = this.pollIntervalMs;
      let wakeOnNotify = true;
      try {
        await this.ensureWatching();
        const count = await this.runOnce();
        backoff = undefined;
        if (count >= this.batchSize) continue;
        await this.cleanupIfDue();
      } catch (error) {
        this.onError(error);
        backoff = backoff ? backoff.next(undefined) : this.backoff.next();
        pauseMs = backoff.duration;
        // New events do not make a failing broker or database healthy again.
        wakeOnNotify = false;
      }
      await this.pause(pauseMs, wakeOnNotify);
    }
  }

  private async ensureWatching(): Promise<void> {
    if (!this.listen || this.listenUnavailable || !this.store.watch || this.stopWatching) return;
    try {
      this.stopWatching = await this.store.watch(
        () => this.notify(),
        (error) => {
          // Polling carries on; the next round listens again.
          this.stopWatching = undefined;
          this.onError(error);
        },
      );
    } catch (error) {
      this.onError(error);
      // A configuration problem will not fix itself: poll only, instead of reporting it every round.
      if (isEventportError(error, 'INVALID_ARGUMENT')) this.listenUnavailable = true;
    }
  }

  private notify(): void {
    this.notified = true;
    this.wakeUp?.();
  }

  private pause(ms: number, wakeOnNotify: boolean): Promise<void> {
    if (this.stopping || (wakeOnNotify && this.notified)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = () => {
        if (this.stopping || wakeOnNotify) done();
      };
    });
  }

  private async cleanupIfDue(): Promise<void> {
    if (!this.cleanup || Date.now() - this.lastCleanup < this.cleanup.intervalMs) return;
    this.lastCleanup = Date.now();
    const deleted = await this.store.deletePublished(new Date(Date.now() - this.cleanup.retainMs));
    if (deleted > 0) this.logger.debug('outbox cleanup', { deleted });
  }
}
