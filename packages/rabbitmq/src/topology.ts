import { createHash } from 'node:crypto';
import type { Channel } from 'amqplib';
import type { RabbitMqConfig } from './options.js';

/** AMQP short strings (exchange, queue, routing key, header names) hold at most 255 bytes. */
export const SHORT_STRING_BYTES = 255;

/** A group's queue: `<topic>.<group>`, shortened with a digest beyond 255 bytes (topic 200 + group 100 can exceed it). */
export function queueName(topic: string, group: string): string {
  const name = `${topic}.${group}`;
  if (Buffer.byteLength(name) <= SHORT_STRING_BYTES) return name;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return `${name.slice(0, SHORT_STRING_BYTES - digest.length - 1)}~${digest}`;
}

/** One durable topic exchange per topic, named like it; the message key is the routing key. */
export function declareExchange(channel: Channel, topic: string): Promise<unknown> {
  return channel.assertExchange(topic, 'topic', { durable: true });
}

/** The group's durable queue, bound with `#`: from then on the broker keeps every message for the group. */
export async function declareGroupQueue(
  channel: Channel,
  topic: string,
  queue: string,
  { queueType, deliveryLimit }: Pick<RabbitMqConfig, 'queueType' | 'deliveryLimit'>,
): Promise<void> {
  await declareExchange(channel, topic);
  // A classic queue is declared without x-queue-type, so it matches queues other tools declared the default way.
  const args =
    queueType === 'classic'
      ? {}
      : { 'x-queue-type': 'quorum', ...(deliveryLimit === undefined ? {} : { 'x-delivery-limit': deliveryLimit }) };
  await channel.assertQueue(queue, { durable: true, arguments: args });
  await channel.bindQueue(queue, topic, '#');
}
