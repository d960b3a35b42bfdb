import { createAdapter, type EventAdapter, type Logger, type PublishInput, silentLogger } from '@eventport/core';
import type { BenchTarget, Consumer, OnMessage, Payload } from './target.js';

/**
 * The eventport SDK as a bench target: createAdapter(backend) with the backend's env configuration.
 * With `distinctKeys`, message `s` of a run is published with key `k<s mod distinctKeys>`.
 */
export class SdkTarget implements BenchTarget {
  private readonly keys: readonly string[] | undefined;

  constructor(
    readonly adapter: EventAdapter,
    distinctKeys?: number,
  ) {
    this.keys =
      distinctKeys === undefined ? undefined : Array.from({ length: distinctKeys }, (_, index) => `k${index}`);
  }

  static async create(backend: string, distinctKeys?: number): Promise<SdkTarget> {
    return new SdkTarget(await connectedAdapter(backend), distinctKeys);
  }

  async prepare(topic: string, group: string): Promise<void> {
    // subscribe() creates the group's queue / subscription / offsets; closing leaves them in place.
    const subscription = await this.adapter.subscribe(topic, () => undefined, { group });
    await subscription.close();
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.adapter.publish(this.input(topic, payload));
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    await this.adapter.publishBatch(payloads.map((payload) => this.input(topic, payload)));
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

  private input(topic: string, data: Payload): PublishInput<Payload> {
    if (this.keys === undefined) return { topic, data };
    return { topic, data, key: this.keys[data.s % this.keys.length] as string };
  }
}

/** createAdapter(backend) with the backend's env configuration, connected, logging warnings and errors only. */
export async function connectedAdapter(backend: string): Promise<EventAdapter> {
  const adapter = await createAdapter(backend, { logger: quietLogger() });
  await adapter.connect();
  return adapter;
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
