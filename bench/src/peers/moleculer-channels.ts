import { Middleware as ChannelsMiddleware } from '@moleculer/channels';
import type { Redis as RedisClient } from 'ioredis';
import { type Middleware, ServiceBroker } from 'moleculer';
import { sdkHeaders } from '../raw/headers.js';
import type { BenchTarget, Consumer, OnMessage, Payload } from '../target.js';

type IoRedis = typeof import('ioredis');

/** Channel names are the stream keys; the same prefix as the adapter's streams keeps cleanup in one place. */
const streamKey = (topic: string) => `eventport:${topic}`;

/**
 * @moleculer/channels with its Redis Streams adapter, as an application uses it: a ServiceBroker with
 * the channels middleware publishes with `broker.sendToChannel` (one awaited XADD; it has no batch
 * call, so a batch is all its messages in flight at once), and each subscription is a service with a
 * channel handler in a ServiceBroker of its own (channels subscribe when their broker starts), with
 * `maxInFlight` = concurrency. Messages carry the same headers the SDK writes, as channel headers.
 */
export class MoleculerChannelsTarget implements BenchTarget {
  private nodes = 0;

  private constructor(
    private readonly url: string,
    private readonly publisher: ServiceBroker,
    private readonly admin: RedisClient,
  ) {}

  static async create(url: string): Promise<MoleculerChannelsTarget> {
    const publisher = newBroker(url, 'bench-publisher');
    await publisher.start();
    const lib = require('ioredis') as IoRedis;
    const admin = new lib.Redis(url, { lazyConnect: true });
    await admin.connect();
    return new MoleculerChannelsTarget(url, publisher, admin);
  }

  async prepare(): Promise<void> {
    // A stream keeps what is added to it whether or not a group reads it.
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.send(topic, payload);
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    await Promise.all(payloads.map((payload) => this.send(topic, payload)));
  }

  async subscribe(topic: string, group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    const consumer = newBroker(this.url, `bench-consumer-${++this.nodes}`);
    consumer.createService({
      name: 'bench',
      channels: {
        [streamKey(topic)]: {
          group,
          maxInFlight: concurrency,
          handler: async (payload: Payload) => {
            await onMessage(payload);
          },
        },
      },
    });
    await consumer.start();
    return { close: () => consumer.stop() };
  }

  async cleanup(topic: string): Promise<void> {
    await this.admin.del(streamKey(topic));
  }

  async close(): Promise<void> {
    await this.publisher.stop();
    await this.admin.quit();
  }

  private async send(topic: string, payload: Payload): Promise<void> {
    await (this.publisher as ChannelBroker).sendToChannel(streamKey(topic), payload, {
      headers: sdkHeaders(topic).headers,
    });
  }
}

/** What the channels middleware adds to the broker. */
interface ChannelBroker extends ServiceBroker {
  sendToChannel(channel: string, payload: unknown, options?: { headers?: Record<string, string> }): Promise<void>;
}

function newBroker(url: string, nodeID: string): ServiceBroker {
  // A redis:// URL selects the Redis Streams adapter; every other option keeps its default. The
  // package's typings mark those defaults required, and declare a `name` that moleculer's Middleware
  // type has no room for: the casts only bridge its typings.
  const options = { adapter: url } as Parameters<typeof ChannelsMiddleware>[0];
  const channels = ChannelsMiddleware(options) as unknown as Middleware;
  return new ServiceBroker({ nodeID, logger: false, middlewares: [channels] });
}
