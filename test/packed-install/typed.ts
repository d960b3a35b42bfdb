// Type-checked by the app's own TypeScript with moduleResolution node16 and bundler, strict and without
// skipLibCheck: every package's declarations, and the client libraries' declarations they load, must check.
import { withCircuitBreaker } from '@eventport/circuit-breaker';
import { buildProgram } from '@eventport/cli';
import { createAdapter, EventChannel, type EventportError, isEventportError } from '@eventport/core';
import { withDeadLetters } from '@eventport/dlq';
import { PostgresEventStore } from '@eventport/event-store';
import { PostgresInboxStore } from '@eventport/inbox';
import { createKafkaAdapter } from '@eventport/kafka';
import { createKinesisAdapter, RedisCheckpointStore } from '@eventport/kinesis';
import { createMemoryAdapter } from '@eventport/memory';
import { withMetrics } from '@eventport/metrics';
import { createNatsAdapter } from '@eventport/nats';
import { PostgresOutboxStore } from '@eventport/outbox';
import { createPubSubAdapter } from '@eventport/pubsub';
import { createRabbitMqAdapter } from '@eventport/rabbitmq';
import { createRedisStreamsAdapter } from '@eventport/redis-streams';
import { runConformance } from '@eventport/testkit';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { z } from 'zod';

export const factories = [
  createKafkaAdapter,
  createKinesisAdapter,
  createNatsAdapter,
  createPubSubAdapter,
  createRabbitMqAdapter,
];
export const extras = [buildProgram, runConformance, withCircuitBreaker];

export function stores(pool: Pool, redis: Redis) {
  return [
    new PostgresOutboxStore({ pool }),
    new PostgresInboxStore({ pool }),
    new PostgresEventStore({ pool, events: [] }),
    new RedisCheckpointStore({ client: redis }),
    createMemoryAdapter(),
  ];
}

const Order = z.object({ orderId: z.string(), totalCents: z.number().int() });

export async function main(): Promise<string> {
  const adapter = withMetrics(withDeadLetters(await createAdapter(), { maxAttempts: 3 }));
  const orders = new EventChannel({ schema: Order, topicPrefix: 'shop', adapter });
  const subscription = await orders.pull('placed', async (event) => {
    const cents: number = event.data.totalCents;
    void cents;
  });
  await subscription.close();
  const redis = createRedisStreamsAdapter({ url: 'redis://127.0.0.1:6379' });
  await redis.disconnect();
  try {
    await adapter.publish({ topic: '', data: 1 });
  } catch (error) {
    if (isEventportError(error)) return (error as EventportError).code;
  }
  return 'none';
}
