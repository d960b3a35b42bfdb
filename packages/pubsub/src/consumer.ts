import { type DriverSubscription, EventportError, type IncomingRecord, type RecordSink } from '@eventport/core';
import type { Message, Subscription } from '@google-cloud/pubsub';

export interface ConsumerSettings {
  /** True when the subscription has a Pub/Sub retry policy: it spaces redeliveries, so a nack goes back at once. */
  brokerBackoff: boolean;
  onError(error: unknown): void;
  /** Makes sure the subscription exists before a re-open (it may have been deleted under us). */
  recreate(): Promise<void>;
  /**
   * Shortest time a streaming pull stays open before close() cancels it. The emulator (seen with
   * google-cloud-cli-pubsub-emulator on 2026-11-23) fails to process a cancel that arrives right after
   * the stream opened and keeps routing messages to the dead stream, so they never reach other members.
   */
  minStreamLifetimeMs: number;
}

/** Process-local delivery counts are kept for this many messages at most (oldest forgotten first). */
const MAX_TRACKED_ATTEMPTS = 10_000;
const REOPEN_MIN_DELAY_MS = 500;
const REOPEN_MAX_DELAY_MS = 30_000;

/**
 * One subscriber on a Pub/Sub subscription. The client library does the streaming pull, flow control
 * (at most `maxInFlight` messages leased and dispatched) and lease extension (modAckDeadline while a
 * message is neither acked nor nacked); this class turns its messages into records, spaces nacks out,
 * and re-opens the stream when the client gives up on it.
 */
export class PubSubConsumer implements DriverSubscription {
  private stopped = false;
  private closing = false;
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopenDelayMs = REOPEN_MIN_DELAY_MS;
  private openedAt = 0;
  private readonly localAttempts = new Map<string, number>();
  /** Nacks waiting out their delay; each entry sends its nack right away when called. */
  private readonly delayedNacks = new Set<() => void>();

  constructor(
    private readonly subscription: Subscription,
    private readonly sink: RecordSink,
    private readonly settings: ConsumerSettings,
  ) {}

  /** Attaching the 'message' listener opens the streaming pull. */
  start(): void {
    this.subscription.on('error', this.onStreamError);
    this.subscription.on('close', this.onStreamClose);
    this.openedAt = Date.now();
    this.subscription.on('message', this.onMessage);
  }

  async stop(): Promise<void> {
    // The stream stays open so the client keeps extending the leases of records still being handled;
    // messages that arrive from now on are held unhandled and given back by close().
    this.stopped = true;
    this.sendDelayedNacks();
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reopenTimer);
    this.sendDelayedNacks();
    const youngForMs = this.openedAt + this.settings.minStreamLifetimeMs - Date.now();
    if (youngForMs > 0) await new Promise((resolve) => setTimeout(resolve, youngForMs));
    await flushPendingAcks(this.subscription);
    // The client nacks what is still leased (held or timed-out records) and flushes pending acks.
    await this.subscription.close();
    this.subscription.removeListener('message', this.onMessage);
    this.subscription.removeListener('close', this.onStreamClose);
    // The 'error' listener stays: an EventEmitter without one would throw a late stream error at the process.
  }

  private readonly onMessage = (message: Message): void => {
    if (this.stopped) return;
    this.reopenDelayMs = REOPEN_MIN_DELAY_MS;
    this.sink(this.toRecord(message)).catch((error: unknown) => this.settings.onError(error));
  };

  private readonly onStreamError = (error: unknown): void => {
    if (this.closing) return;
    this.settings.onError(error);
  };

  /** The client closes the subscriber after a non-retryable stream error (e.g. subscription deleted): re-open. */
  private readonly onStreamClose = (): void => {
    if (this.closing || this.stopped || this.reopenTimer) return;
    const delayMs = this.reopenDelayMs;
    this.reopenDelayMs = Math.min(delayMs * 2, REOPEN_MAX_DELAY_MS);
    this.settings.onError(
      new EventportError(
        'CONNECTION',
        `streaming pull of "${this.subscription.name}" closed; re-opening in ${delayMs} ms`,
      ),
    );
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      void this.reopen();
    }, delayMs);
  };

  private async reopen(): Promise<void> {
    if (this.closing || this.stopped) return;
    try {
      await this.settings.recreate();
      if (!this.closing && !this.stopped && !this.subscription.isOpen) {
        this.openedAt = Date.now();
        this.subscription.open();
      }
    } catch (error) {
      this.onStreamClose();
      this.settings.onError(error);
    }
  }

  private toRecord(message: Message): IncomingRecord {
    return {
      key: message.orderingKey ? message.orderingKey : undefined,
      headers: { ...message.attributes },
      body: message.data,
      // Pub/Sub counts deliveries only on subscriptions with a dead-letter policy; otherwise count here.
      attempt: message.deliveryAttempt > 0 ? message.deliveryAttempt : this.countDelivery(message.id),
      meta: {
        id: message.id,
        publishTime: message.publishTime.toISOString(),
        subscription: this.subscription.name,
      },
      ack: async () => {
        this.localAttempts.delete(message.id);
        await message.ackWithResponse();
      },
      nack: (delayMs) => this.nack(message, delayMs),
    };
  }

  private countDelivery(id: string): number {
    const attempt = (this.localAttempts.get(id) ?? 0) + 1;
    this.localAttempts.delete(id);
    this.localAttempts.set(id, attempt);
    if (this.localAttempts.size > MAX_TRACKED_ATTEMPTS) {
      const oldest = this.localAttempts.keys().next().value;
      if (oldest !== undefined) this.localAttempts.delete(oldest);
    }
    return attempt;
  }

  /**
   * Pub/Sub has no per-message redelivery delay: the message stays leased (the client keeps extending
   * it) for `delayMs`, then goes back with modAckDeadline 0. stop() and close() cut the wait short.
   */
  private async nack(message: Message, delayMs: number): Promise<void> {
    if (delayMs > 0 && !this.settings.brokerBackoff && !this.stopped) {
      await new Promise<void>((resolve) => {
        const sendNow = () => {
          clearTimeout(timer);
          this.delayedNacks.delete(sendNow);
          resolve();
        };
        const timer = setTimeout(sendNow, delayMs);
        this.delayedNacks.add(sendNow);
      });
    }
    await message.nackWithResponse();
  }

  private sendDelayedNacks(): void {
    for (const sendNow of [...this.delayedNacks]) sendNow();
  }
}

interface SubscriberInternals {
  _subscriber?: { isOpen?: boolean; _waitForFlush?: () => Promise<void> };
}

/**
 * Sends the acks still waiting in the client's batch while the stream is open. Subscription.close()
 * cancels the stream first and flushes after; the emulator re-queues a cancelled stream's unacked
 * messages at once, so an ack sent after that produced duplicates on the next subscriber. Uses the
 * client's private flush (present in @google-cloud/pubsub 4.x-5.x); without it, close() behaves as before.
 */
async function flushPendingAcks(subscription: Subscription): Promise<void> {
  const subscriber = (subscription as unknown as SubscriberInternals)._subscriber;
  if (!subscriber?.isOpen || typeof subscriber._waitForFlush !== 'function') return;
  await subscriber._waitForFlush();
}
