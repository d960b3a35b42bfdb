import { JSON_CONTENT_TYPE } from '@eventport/core';
import type { Channel, ChannelModel, ConfirmChannel, Options } from 'amqplib';
import {
  type BenchTarget,
  type Consumer,
  decodePayload,
  encodePayload,
  handle,
  type OnMessage,
  type Payload,
} from '../target.js';
import { cloudEventsNames, sdkHeaders, stringHeaders, type WireMode } from './headers.js';

type Amqplib = typeof import('amqplib');

/**
 * amqplib doing what @eventport/rabbitmq does: a durable topic exchange per topic, a durable quorum
 * queue `<topic>.<group>` bound with `#`, persistent publishes on a confirm channel (a batch waits for
 * all its confirms), consumption with manual ack and prefetch = concurrency. With the SDK's headers,
 * they go in the AMQP headers table with the binding's `cloudEvents:` names, and the id, content type
 * and time also in the message properties, as the adapter sets them (toPublication in
 * packages/rabbitmq/src/driver.ts); the consumer reads the table back.
 */
export class RawRabbitMq implements BenchTarget {
  private readonly declared = new Set<string>();

  private constructor(
    private readonly connection: ChannelModel,
    private readonly confirm: ConfirmChannel,
    private readonly mode: WireMode,
  ) {}

  static async create(url: string, mode: WireMode): Promise<RawRabbitMq> {
    const amqp = require('amqplib') as Amqplib;
    const connection = await amqp.connect(url, { clientProperties: { connection_name: `eventport-bench-${mode}` } });
    const confirm = await connection.createConfirmChannel();
    return new RawRabbitMq(connection, confirm, mode);
  }

  async prepare(topic: string, group: string): Promise<void> {
    await declare(this.confirm, topic, group);
    this.declared.add(topic);
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.exchange(topic);
    await new Promise<void>((resolve, reject) => {
      this.confirm.publish(topic, '', encodePayload(payload), this.properties(topic), (error: unknown) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    await this.exchange(topic);
    for (const payload of payloads) this.confirm.publish(topic, '', encodePayload(payload), this.properties(topic));
    await this.confirm.waitForConfirms();
  }

  async subscribe(topic: string, group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    const channel = await this.connection.createChannel();
    await channel.prefetch(concurrency);
    const queue = await declare(channel, topic, group);
    const { consumerTag } = await channel.consume(
      queue,
      (message) => {
        if (!message) return;
        if (this.mode === 'sdk-headers') stringHeaders(message.properties.headers);
        void handle(onMessage, decodePayload(message.content)).then(
          () => channel.ack(message),
          () => channel.nack(message, false, true),
        );
      },
      { noAck: false },
    );
    return {
      close: async () => {
        await channel.cancel(consumerTag);
        await channel.close();
      },
    };
  }

  async cleanup(topic: string, groups: readonly string[]): Promise<void> {
    const channel = await this.connection.createChannel();
    channel.on('error', () => undefined);
    try {
      for (const group of groups) await channel.deleteQueue(`${topic}.${group}`);
      await channel.deleteExchange(topic);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.confirm.close().catch(() => undefined);
    await this.connection.close();
  }

  private properties(topic: string): Options.Publish {
    if (this.mode === 'bare') return BARE_PROPERTIES;
    const { id, time, headers } = sdkHeaders(topic);
    return {
      persistent: true,
      headers: cloudEventsNames(headers, 'cloudEvents:'),
      messageId: id,
      contentType: JSON_CONTENT_TYPE,
      timestamp: Math.floor(Date.parse(time) / 1000),
    };
  }

  private async exchange(topic: string): Promise<void> {
    if (this.declared.has(topic)) return;
    await this.confirm.assertExchange(topic, 'topic', { durable: true });
    this.declared.add(topic);
  }
}

const BARE_PROPERTIES: Options.Publish = { persistent: true };

async function declare(channel: Channel, topic: string, group: string): Promise<string> {
  const queue = `${topic}.${group}`;
  await channel.assertExchange(topic, 'topic', { durable: true });
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(queue, topic, '#');
  return queue;
}
