import { createHash } from 'node:crypto';
import {
  abortable,
  type ConsumerLag,
  cloudEventsHeaders,
  EventportError,
  type Headers,
  type IncomingRecord,
  PushBuffer,
  RESERVED_HEADERS,
  type Receiver,
} from '@eventport/core';
import type { Channel, ChannelModel, ConsumeMessage, MessagePropertyHeaders } from 'amqplib';

export interface AmqpRecord extends IncomingRecord {
  deliveryTag: number;
}

/** Headers the broker adds (delivery count, dead-lettering, shovel/federation), not the publisher's. */
const BROKER_HEADER = /^x-(delivery-count|death|first-death-.+|last-death-.+|received-from)$/;

/**
 * One member of a group: its own channel (delivery tags are only valid on the channel that delivered
 * them) with prefetch = maxUnsettled, consuming `<topic>.<group>`. The broker pushes deliveries into
 * core's PushBuffer; when the channel closes, the broker requeues what was unacked and the next
 * receive throws, so core opens a new receiver.
 */
export class RabbitMqReceiver implements Receiver<AmqpRecord> {
  private readonly buffer = new PushBuffer<AmqpRecord>();
  /** Delivery tags not settled yet, in delivery (= tag) order. */
  private readonly unsettled = new Set<number>();
  private open = true;
  /** The broker's reason when it closed the channel (404, 406...). */
  closedBy: unknown;
  private consumerTag: string | undefined;
  private readonly nacks: number[] = [];
  private nackTimer: NodeJS.Immediate | undefined;

  constructor(
    private readonly channel: Channel,
    private readonly queue: string,
    private readonly counted: boolean,
    private readonly model: ChannelModel,
  ) {
    // The broker closes a channel on errors (404, 406...); 'close' follows, also when the connection goes.
    channel.on('error', (error: unknown) => {
      this.closedBy = error;
    });
    channel.once('close', () => {
      this.open = false;
      // Deliveries not taken yet can no longer be acked; the broker delivers them again.
      this.buffer.end();
      this.buffer.fail(this.gone('receiving from'));
    });
  }

  async consume(maxUnsettled: number): Promise<void> {
    await this.channel.prefetch(maxUnsettled);
    const { consumerTag } = await this.channel.consume(this.queue, (message) => this.deliver(message));
    this.consumerTag = consumerTag;
  }

  receive(max: number, signal: AbortSignal): Promise<AmqpRecord[]> {
    return this.buffer.receive(max, signal);
  }

  /** Acks the settled prefix of deliveries in one `multiple` ack, the rest one by one; nacks requeue. */
  async settle(acks: readonly AmqpRecord[], nacks: readonly AmqpRecord[]): Promise<void> {
    if (!this.open) throw this.gone(`settling ${acks.length + nacks.length} record(s) of`);
    const acked = new Set(acks.map((record) => record.deliveryTag));
    let upTo: number | undefined;
    for (const tag of this.unsettled) {
      if (!acked.has(tag)) break;
      upTo = tag;
    }
    if (upTo !== undefined) this.channel.ack(tagged(upTo), true);
    for (const { deliveryTag } of acks) {
      if (upTo === undefined || deliveryTag > upTo) this.channel.ack(tagged(deliveryTag));
      this.unsettled.delete(deliveryTag);
    }
    for (const { deliveryTag } of nacks) {
      this.nacks.push(deliveryTag);
      this.unsettled.delete(deliveryTag);
    }
    // Sent one turn later (a nack has no reply anyway): when core nacks because it is closing us, close()
    // cancels the consumer first, so the broker does not push the message straight back to a closing
    // member, which would count one more delivery.
    if (this.nacks.length > 0) this.nackTimer ??= setImmediate(() => this.flushNacks());
  }

  /**
   * The queue's ready messages, on a channel of its own: a passive declare of a queue someone deleted
   * closes its channel, which must not be the consumer's.
   */
  async lag(signal: AbortSignal): Promise<ConsumerLag> {
    const opening = this.model.createChannel();
    try {
      const channel = await abortable(opening, signal);
      channel.on('error', ignore);
      const { messageCount } = await abortable(channel.checkQueue(this.queue), signal);
      return { messages: messageCount };
    } finally {
      void opening.then((channel) => channel.close()).catch(ignore);
    }
  }

  /** Cancels the consumer and closes the channel: the broker requeues everything unacked. */
  async close(): Promise<void> {
    this.buffer.end();
    clearImmediate(this.nackTimer);
    if (!this.open) return;
    if (this.consumerTag !== undefined) await this.channel.cancel(this.consumerTag).catch(ignore);
    this.flushNacks();
    if (this.open) await this.channel.close().catch(ignore);
  }

  private flushNacks(): void {
    this.nackTimer = undefined;
    try {
      for (const tag of this.nacks.splice(0)) this.channel.nack(tagged(tag), false, true);
    } catch {
      // The channel is closing: the broker requeues everything unacked on it.
    }
  }

  private deliver(message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled us (queue deleted, or a quorum leader moved): core opens a new receiver, which re-declares.
      this.consumerTag = undefined;
      this.buffer.fail(
        new EventportError('NOT_FOUND', `RabbitMQ cancelled the consumer of queue "${this.queue}" (was it deleted?)`),
      );
      return;
    }
    this.unsettled.add(message.fields.deliveryTag);
    void this.buffer.push(toRecord(message, this.queue, this.counted));
  }

  private gone(what: string): EventportError {
    return new EventportError(
      'CONNECTION',
      `${what} queue "${this.queue}" failed: its channel closed, so the broker delivers its unacked messages again`,
      { cause: this.closedBy },
    );
  }
}

const ignore = () => undefined;

function tagged(deliveryTag: number): ConsumeMessage {
  return { fields: { deliveryTag } } as ConsumeMessage;
}

function toRecord(message: ConsumeMessage, queue: string, counted: boolean): AmqpRecord {
  const { fields, properties, content } = message;
  const headers = AMQP_CLOUDEVENTS.fromWire(readHeaders(properties.headers));
  const messageId = typeof properties.messageId === 'string' ? properties.messageId : undefined;
  const record: AmqpRecord = {
    // RabbitMQ has no message identity of its own: the publisher's id, else the content (stable across redeliveries).
    id: messageId ?? headers[RESERVED_HEADERS.id] ?? createHash('sha256').update(content).digest('base64url'),
    deliveryTag: fields.deliveryTag,
    headers,
    body: content,
    meta: {
      queue,
      deliveryTag: fields.deliveryTag,
      redelivered: fields.redelivered,
      routingKey: fields.routingKey,
      id: messageId,
    },
  };
  // Quorum queues count earlier deliveries in x-delivery-count; classic queues keep no count, so core counts.
  if (counted) record.deliveryCount = (Number(properties.headers?.['x-delivery-count']) || 0) + 1;
  if (fields.routingKey !== '') record.key = fields.routingKey;
  return record;
}

/** The AMQP binding of CloudEvents names attributes `cloudEvents:id`, `cloudEvents:type`... in the application properties. */
export const AMQP_CLOUDEVENTS = cloudEventsHeaders('cloudEvents:');

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
