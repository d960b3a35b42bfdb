import {
  backoffDelay,
  type DriverSubscribeOptions,
  type DriverSubscription,
  EventportError,
  type Headers,
  type IncomingRecord,
  type RecordSink,
} from '@eventport/core';
import type { Channel, ChannelModel, ConsumeMessage, MessagePropertyHeaders } from 'amqplib';
import type { ReconnectingConnection } from './connection.js';
import type { ResolvedRabbitMqOptions } from './options.js';
import { Sleeper, within } from './timing.js';
import { declareGroupQueue } from './topology.js';

/** Headers the broker adds (delivery count, dead-lettering, shovel/federation), not the publisher's. */
const BROKER_HEADER = /^x-(delivery-count|death|first-death-.+|last-death-.+|received-from)$/;

/** One channel consuming the group's queue; delivery tags are only valid on the channel that delivered them. */
interface Attachment {
  channel: Channel;
  open: boolean;
  consumerTag?: string;
  closedBy?: unknown;
  closed: Promise<void>;
}

interface Delivery {
  attachment: Attachment;
  message: ConsumeMessage;
}

const ignore = () => undefined;

/**
 * One member of a consumer group: a channel with prefetch = maxInFlight consuming `<topic>.<group>`.
 * When the channel or the connection goes, the broker requeues every unacked message (that is the
 * at-least-once guarantee), and this re-declares the queue and consumes again with backoff until closed.
 */
export class GroupConsumer implements DriverSubscription {
  private current: Attachment | undefined;
  private readonly backlog: Delivery[] = [];
  private pumping: Promise<void> | undefined;
  /** Set synchronously by pump() itself, so a pump that finished without awaiting is never mistaken for a running one. */
  private pumpActive = false;
  private supervising: Promise<void> | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private signalStop: () => void = ignore;
  private readonly stopSignal = new Promise<void>((resolve) => {
    this.signalStop = resolve;
  });
  private readonly retrySleeper = new Sleeper();
  private readonly redeliverySleeper = new Sleeper();

  constructor(
    private readonly topic: string,
    private readonly queue: string,
    private readonly connection: ReconnectingConnection,
    private readonly options: ResolvedRabbitMqOptions,
    private readonly subscribeOptions: DriverSubscribeOptions,
    private readonly sink: RecordSink,
  ) {}

  /** Declares the queue and starts consuming; when this fails nothing is left open. */
  async start(): Promise<void> {
    this.current = await this.attach(await this.connection.ready());
    this.supervising = this.supervise(this.current);
  }

  stop(): Promise<void> {
    this.stopped ??= this.halt();
    return this.stopped;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async halt(): Promise<void> {
    this.stopping = true;
    this.signalStop();
    this.retrySleeper.wakeAll();
    // Records waiting out a redelivery delay go back now, so close() does not wait for the delay.
    this.redeliverySleeper.wakeAll();
    const attachment = this.current;
    if (attachment?.open && attachment.consumerTag !== undefined) {
      await within(attachment.channel.cancel(attachment.consumerTag), this.options.operationTimeoutMs, () =>
        this.timeout('cancelling the consumer'),
      ).catch((error: unknown) => this.subscribeOptions.onError(error));
    }
    await this.pumping;
    for (const { attachment: held, message } of this.backlog.splice(0)) requeue(held, message);
  }

  private async shutdown(): Promise<void> {
    await this.stop();
    const attachment = this.current;
    if (attachment?.open) {
      // Closing the channel hands anything still unacked (a drain that timed out) back to the broker.
      await within(attachment.channel.close(), this.options.operationTimeoutMs, () =>
        this.timeout('closing the channel'),
      ).catch(ignore);
    }
    await this.supervising;
  }

  private async attach(model: ChannelModel): Promise<Attachment> {
    const channel = await within(model.createChannel(), this.options.operationTimeoutMs, () =>
      this.timeout('opening a channel'),
    );
    let markClosed: () => void = ignore;
    const attachment: Attachment = {
      channel,
      open: true,
      closed: new Promise<void>((resolve) => {
        markClosed = resolve;
      }),
    };
    channel.on('error', (error: unknown) => {
      attachment.closedBy = error;
    });
    channel.once('close', () => {
      attachment.open = false;
      // Delayed nacks of this channel's deliveries have nothing left to wait for: the broker requeued them.
      this.redeliverySleeper.wakeAll();
      markClosed();
    });
    try {
      await within(this.declareAndConsume(attachment), this.options.operationTimeoutMs, () =>
        this.timeout(`declaring and consuming queue "${this.queue}"`),
      );
      return attachment;
    } catch (error) {
      if (attachment.open) await channel.close().catch(ignore);
      throw attachment.closedBy ?? error;
    }
  }

  private async declareAndConsume(attachment: Attachment): Promise<void> {
    const { channel } = attachment;
    await channel.prefetch(this.subscribeOptions.maxInFlight);
    await declareGroupQueue(channel, this.topic, this.queue, this.options);
    const { consumerTag } = await channel.consume(this.queue, (message) => this.receive(attachment, message), {
      noAck: false,
    });
    attachment.consumerTag = consumerTag;
  }

  /** Re-attaches whenever the channel closes under us, until stopped. */
  private async supervise(first: Attachment): Promise<void> {
    let attachment: Attachment | undefined = first;
    while (attachment) {
      // After stop() a lost channel needs no replacement, and close() must not wait on a channel that never reports closing.
      await Promise.race([attachment.closed, this.stopSignal]);
      if (this.stopping) return;
      this.subscribeOptions.onError(
        new EventportError('CONNECTION', `RabbitMQ consumer channel of queue "${this.queue}" closed; re-attaching`, {
          cause: attachment.closedBy,
        }),
      );
      attachment = await this.reattach();
    }
  }

  private async reattach(): Promise<Attachment | undefined> {
    const { initialDelayMs, maxDelayMs } = this.options.reconnect;
    for (let failures = 1; ; failures++) {
      await this.retrySleeper.sleep(backoffDelay(failures, initialDelayMs, maxDelayMs));
      if (this.stopping) return undefined;
      const attaching = this.connection.ready().then((model) => this.attach(model));
      try {
        const attachment = await Promise.race([attaching, this.stopSignal.then(() => undefined)]);
        if (attachment && !this.stopping) {
          this.current = attachment;
          return attachment;
        }
        void attaching.then((late) => late.channel.close(), ignore).catch(ignore);
        return undefined;
      } catch (error) {
        if (this.stopping) return undefined;
        this.subscribeOptions.onError(error);
      }
    }
  }

  private receive(attachment: Attachment, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled us (queue deleted, or a quorum leader moved): closing makes the supervisor re-declare.
      this.subscribeOptions.onError(
        new EventportError('NOT_FOUND', `RabbitMQ cancelled the consumer of queue "${this.queue}"; re-declaring it`),
      );
      void attachment.channel.close().catch(ignore);
      return;
    }
    if (this.stopping) {
      requeue(attachment, message);
      return;
    }
    this.backlog.push({ attachment, message });
    if (!this.pumpActive) this.pumping = this.pump();
  }

  /** Hands deliveries to the sink one at a time, in delivery order, waiting while the portable layer is full. */
  private async pump(): Promise<void> {
    this.pumpActive = true;
    try {
      while (!this.stopping) {
        const next = this.backlog.shift();
        if (!next) break;
        // A delivery of a channel that closed meanwhile was already requeued by the broker.
        if (!next.attachment.open) continue;
        await this.sink(this.toRecord(next.attachment, next.message));
      }
    } catch (error) {
      this.subscribeOptions.onError(error);
    } finally {
      this.pumpActive = false;
    }
  }

  private toRecord(attachment: Attachment, message: ConsumeMessage): IncomingRecord {
    const { fields, properties } = message;
    const deliveryCount = Number(properties.headers?.['x-delivery-count']);
    const record: IncomingRecord = {
      headers: readHeaders(properties.headers),
      body: message.content,
      // Quorum queues count returns in x-delivery-count; classic queues only flag a redelivery.
      attempt: Number.isInteger(deliveryCount) ? deliveryCount + 1 : fields.redelivered ? 2 : 1,
      meta: {
        queue: this.queue,
        deliveryTag: fields.deliveryTag,
        redelivered: fields.redelivered,
        routingKey: fields.routingKey,
        id: typeof properties.messageId === 'string' ? properties.messageId : undefined,
      },
      ack: async () => {
        if (!attachment.open) {
          throw new EventportError(
            'CONNECTION',
            `cannot ack on queue "${this.queue}": its channel closed, so the broker will deliver the message again`,
          );
        }
        attachment.channel.ack(message);
      },
      nack: async (delayMs) => {
        // The message stays unacked (and safe on the broker) while we wait; its prefetch slot stays taken.
        if (delayMs > 0 && !this.stopping && attachment.open) await this.redeliverySleeper.sleep(delayMs);
        requeue(attachment, message);
      },
    };
    if (fields.routingKey !== '') record.key = fields.routingKey;
    return record;
  }

  private timeout(what: string): EventportError {
    return new EventportError(
      'TIMEOUT',
      `RabbitMQ did not answer within ${this.options.operationTimeoutMs} ms while ${what}`,
    );
  }
}

/** Gives a delivery back for redelivery; on a closed channel the broker already did. */
function requeue({ channel, open }: Attachment, message: ConsumeMessage): void {
  if (!open) return;
  try {
    channel.nack(message, false, true);
  } catch {
    // The channel is closing: the broker requeues everything unacked on it.
  }
}

function readHeaders(table: MessagePropertyHeaders | undefined): Headers {
  const headers: Headers = {};
  for (const [name, value] of Object.entries(table ?? {})) {
    if (BROKER_HEADER.test(name)) continue;
    if (typeof value === 'string') headers[name] = value;
    else if (Buffer.isBuffer(value)) headers[name] = value.toString('utf8');
    else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
      headers[name] = String(value);
    }
  }
  return headers;
}
