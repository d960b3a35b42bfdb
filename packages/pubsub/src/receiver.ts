import { abortable, EventportError, type IncomingRecord, PushBuffer, pause, type Receiver } from '@eventport/core';
import type { Message, Subscription } from '@google-cloud/pubsub';

export interface PubSubRecord extends IncomingRecord {
  message: Message;
}

/** A failed ack/modAck batch, as the client reports it on its 'debug' channel (BatchError). */
interface BatchFailure {
  ackIds?: unknown;
  code?: unknown;
  message?: string;
}

/**
 * One member of a group: a streaming pull whose messages go into a PushBuffer. The client does the
 * flow control (at most `maxUnsettled` leased; a message leaves its window when it is settled), the
 * lease extension (modAckDeadline while a message is neither acked nor nacked) and the retries of
 * retryable stream errors; when it gives up on the stream, the next receive throws and core opens a
 * new receiver. No `lag`: Pub/Sub reports a subscription's backlog only through Cloud Monitoring
 * (num_undelivered_messages), which the emulator does not have.
 */
export class PubSubReceiver implements Receiver<PubSubRecord> {
  private readonly buffer = new PushBuffer<PubSubRecord>();
  private readonly openedAt = Date.now();
  /** ackIds being settled -> the failure of their ack/nack request, if any (ackWithResponse resolves anyway). */
  private readonly settling = new Map<string, BatchFailure | undefined>();
  private lastError: unknown;
  private closing = false;

  constructor(
    private readonly subscription: Subscription,
    /** The emulator ignores the cancel of a stream this young and keeps routing messages to it. */
    private readonly minStreamLifetimeMs: number,
    /** Run once the stream is closed: deletes an ephemeral receiver's subscription. */
    private readonly release?: () => Promise<unknown>,
  ) {
    // Stream errors the client retries itself arrive here too; only a close ends the receiver.
    subscription.on('error', (error: unknown) => {
      this.lastError = error;
    });
    subscription.on('debug', (debug: BatchFailure) => {
      if (!Array.isArray(debug.ackIds)) return;
      for (const ackId of debug.ackIds) if (this.settling.has(ackId)) this.settling.set(ackId, debug);
    });
    subscription.on('close', () => {
      if (this.closing) return;
      this.buffer.fail(
        this.lastError ?? new EventportError('CONNECTION', `the streaming pull of "${subscription.name}" was closed`),
      );
    });
    // Attaching the 'message' listener opens the streaming pull.
    subscription.on('message', (message: Message) => {
      void this.buffer.push(toRecord(message, subscription.name));
    });
  }

  receive(max: number, signal: AbortSignal): Promise<PubSubRecord[]> {
    return this.buffer.receive(max, signal);
  }

  /** Each ack/nack joins the client's batch (one request per `ackBatchMilliseconds`); resolves once it was sent. */
  async settle(acks: readonly PubSubRecord[], nacks: readonly PubSubRecord[], signal: AbortSignal): Promise<void> {
    // A closed subscriber drops acks silently: say so, the broker redelivers these records.
    if (this.closing || !this.subscription.isOpen) {
      throw new EventportError(
        'CONNECTION',
        `the streaming pull of "${this.subscription.name}" is closed; Pub/Sub redelivers its records`,
      );
    }
    const records = [...acks, ...nacks];
    for (const { message } of records) this.settling.set(message.ackId, undefined);
    const sent = Promise.all([
      ...acks.map(({ message }) => message.ackWithResponse()),
      ...nacks.map(({ message }) => message.nackWithResponse()),
    ]);
    const failed: BatchFailure[] = [];
    try {
      await abortable(sent, signal);
      // The client reports a failed batch on 'debug' within the same turn of the event loop.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      for (const { message } of records) {
        const failure = this.settling.get(message.ackId);
        if (failure) failed.push(failure);
        this.settling.delete(message.ackId);
      }
    }
    const [first] = failed;
    if (first)
      throw Object.assign(new Error(`${failed.length} ack/nack(s) failed: ${first.message}`), { code: first.code });
  }

  /** Stops the stream; the client nacks every message it still leases (buffered or unsettled) and sends pending acks. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.buffer.end();
    await pause(this.openedAt + this.minStreamLifetimeMs - Date.now());
    try {
      await this.subscription.close();
    } finally {
      this.subscription.removeAllListeners('message');
      this.subscription.removeAllListeners('close');
      this.subscription.removeAllListeners('debug');
      // The 'error' listener stays: an EventEmitter without one would throw a late stream error at the process.
      // Even after a failed close: an ephemeral group leaves nothing behind.
      await this.release?.();
    }
  }
}

function toRecord(message: Message, subscription: string): PubSubRecord {
  const record: PubSubRecord = {
    id: message.id,
    headers: { ...message.attributes },
    body: message.data,
    meta: { id: message.id, publishTime: message.publishTime.toISOString(), subscription },
    message,
  };
  if (message.orderingKey) record.key = message.orderingKey;
  // Pub/Sub counts deliveries only on subscriptions with a dead-letter policy; elsewhere core counts.
  if (message.deliveryAttempt > 0) record.deliveryCount = message.deliveryAttempt;
  return record;
}
