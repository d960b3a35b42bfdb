import { createHash } from 'node:crypto';
import type { Channel } from 'amqplib';
import type { ResolvedRabbitMqOptions } from './options.js';

/**
 * Topology (see README): one durable topic exchange per eventport topic, named like the topic; one
 * durable queue per consumer group, `<topic>.<group>`, bound with `#` so it gets every message. The
 * message key travels as the routing key, so other consumers can bind by key pattern.
 */
export const EXCHANGE_TYPE = 'topic';
const EVERY_ROUTING_KEY = '#';
/** AMQP short strings (exchange, queue, routing key, header names) hold at most 255 bytes. */
export const SHORT_STRING_BYTES = 255;

export function queueName(topic: string, group: string): string {
  const name = `${topic}.${group}`;
  if (Buffer.byteLength(name) <= SHORT_STRING_BYTES) return name;
  // Topic (200) plus group (100) can exceed the limit: keep a readable prefix and make it unique with a digest.
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return `${name.slice(0, SHORT_STRING_BYTES - digest.length - 1)}~${digest}`;
}

export function declareExchange(channel: Channel, topic: string): Promise<unknown> {
  return channel.assertExchange(topic, EXCHANGE_TYPE, { durable: true });
}

/** Declares (idempotently) the group's queue and its binding; from then on the broker keeps the group's messages. */
export async function declareGroupQueue(
  channel: Channel,
  topic: string,
  queue: string,
  options: ResolvedRabbitMqOptions,
): Promise<void> {
  await declareExchange(channel, topic);
  await channel.assertQueue(queue, { durable: true, arguments: queueArguments(options) });
  await channel.bindQueue(queue, topic, EVERY_ROUTING_KEY);
}

function queueArguments({ queueType, deliveryLimit }: ResolvedRabbitMqOptions): Record<string, unknown> {
  // A classic queue is declared without x-queue-type, so it matches queues other tools declared the default way.
  if (queueType === 'classic') return {};
  return deliveryLimit === undefined
    ? { 'x-queue-type': 'quorum' }
    : { 'x-queue-type': 'quorum', 'x-delivery-limit': deliveryLimit };
}
