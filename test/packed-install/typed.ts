// Type-checked by the app's own TypeScript with moduleResolution node16 and bundler.
import { createAdapter, EventChannel, type EventportError, isEventportError } from '@eventport/core';
import { withDeadLetters } from '@eventport/dlq';
import { withMetrics } from '@eventport/metrics';
import { createRedisStreamsAdapter } from '@eventport/redis-streams';
import { z } from 'zod';

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
