/** Connection settings of the local brokers (scripts/brokers/env.sh), with up.sh's defaults. */
export const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
export const RABBITMQ_URL = process.env.RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672';
export const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';

/** Polls an async condition until it holds or the timeout passes; returns whether it held. */
export async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 25) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return true;
}
