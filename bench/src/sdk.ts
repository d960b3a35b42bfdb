import { createAdapter, type EventAdapter, type Logger, silentLogger } from '@eventport/core';
import type { BenchTarget, Consumer, OnMessage, Payload } from './target.js';

/** The eventport SDK as a bench target: createAdapter(backend) with the backend's env configuration. */
export class SdkTarget implements BenchTarget {
  readonly kind = 'sdk';

  constructor(readonly adapter: EventAdapter) {}

  static async create(backend: string, overrides: Record<string, unknown> = {}): Promise<SdkTarget> {
    const adapter = await createAdapter(backend, { logger: quietLogger(), ...overrides });
    await adapter.connect();
    return new SdkTarget(adapter);
  }

  async prepare(topic: string, group: string): Promise<void> {
    // subscribe() creates the group's queue / subscription / offsets; closing leaves them in place.
    const subscription = await this.adapter.subscribe(topic, () => undefined, { group });
    await subscription.close();
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.adapter.publish({ topic, data: payload });
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    await this.adapter.publishBatch(payloads.map((data) => ({ topic, data })));
  }

  async subscribe(topic: string, group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    return this.adapter.subscribe<Payload>(topic, (message) => onMessage(message.data), { group, concurrency });
  }

  async cleanup(): Promise<void> {
    // The raw client of the same backend deletes what both created: it knows the broker-side names.
  }

  async close(): Promise<void> {
    await this.adapter.disconnect();
  }
}

/** Warnings and errors only, so a broken backend is visible without flooding the table. */
function quietLogger(): Logger {
  const write =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      process.stderr.write(`[sdk ${level}] ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
    };
  return { ...silentLogger, warn: write('warn'), error: write('error') };
}
