import type { PubSub, Topic } from '@google-cloud/pubsub';
import {
  type BenchTarget,
  type Consumer,
  decodePayload,
  encodePayload,
  handle,
  type OnMessage,
  type Payload,
} from '../target.js';
import { sdkHeaders, type WireMode } from './headers.js';

type PubSubLib = typeof import('@google-cloud/pubsub');
type MessageOptions = Parameters<Topic['publishMessage']>[0];

let Duration: PubSubLib['Duration'];

export interface RawPubSubSettings {
  projectId: string;
  emulatorHost?: string;
}

/**
 * @google-cloud/pubsub doing what @eventport/pubsub does: a topic handle with messageOrdering (the
 * client batches publishes; a batch is N publishMessage calls awaited together), subscription
 * `<topic>.<group>` (ack deadline 10 s, message ordering enabled), streaming pull with the adapter's
 * subscriber settings (flow control maxMessages = concurrency, acks batched for 10 ms, one stream), ack
 * when the handler resolved. With the SDK's headers, they are the message's attributes (as
 * packages/pubsub/src/driver.ts publishes them); the client hands them over decoded, as strings.
 */
export class RawPubSub implements BenchTarget {
  private readonly topics = new Map<string, Topic>();
  private readonly created = new Map<string, Promise<void>>();

  private constructor(
    private readonly client: PubSub,
    private readonly mode: WireMode,
  ) {}

  static async create(settings: RawPubSubSettings, mode: WireMode): Promise<RawPubSub> {
    const lib = require('@google-cloud/pubsub') as PubSubLib;
    Duration = lib.Duration;
    const client = new lib.PubSub({
      projectId: settings.projectId,
      ...(settings.emulatorHost ? { apiEndpoint: settings.emulatorHost, emulatorMode: true } : {}),
    });
    await client.getTopics({ pageSize: 1, autoPaginate: false });
    return new RawPubSub(client, mode);
  }

  async prepare(topic: string, group: string): Promise<void> {
    await this.ensureSubscription(topic, group);
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.ensureTopic(topic);
    await this.topic(topic).publishMessage(this.message(topic, payload));
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    await this.ensureTopic(topic);
    const handle = this.topic(topic);
    await Promise.all(payloads.map((payload) => handle.publishMessage(this.message(topic, payload))));
  }

  async subscribe(topic: string, group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    await this.ensureSubscription(topic, group);
    // The adapter's subscriber settings. With the client's defaults instead (acks batched for 100 ms, 5
    // streams) flow control holds 16 messages for up to 100 ms each: about 160 msgs/s end to end.
    const subscription = this.client.subscription(`${topic}.${group}`, {
      flowControl: { maxMessages: concurrency, allowExcessMessages: false },
      maxAckDeadline: Duration.from({ seconds: 10 }),
      maxExtensionTime: Duration.from({ minutes: 60 }),
      batching: { maxMilliseconds: 10 },
      streamingOptions: { maxStreams: 1 },
      closeOptions: { behavior: 'NACK' },
    });
    subscription.on('error', () => undefined);
    subscription.on('message', (message) => {
      void handle(onMessage, decodePayload(message.data)).then(
        () => message.ack(),
        () => message.nack(),
      );
    });
    return {
      close: async () => {
        await subscription.close();
        subscription.removeAllListeners('message');
      },
    };
  }

  async cleanup(topic: string, groups: readonly string[]): Promise<void> {
    await Promise.allSettled(groups.map((group) => this.client.subscription(`${topic}.${group}`).delete()));
    await this.client
      .topic(topic)
      .delete()
      .catch(() => undefined);
    this.topics.delete(topic);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.topics.values()].map((topic) => topic.flush()));
    await this.client.close();
  }

  private message(topic: string, payload: Payload): MessageOptions {
    const data = encodePayload(payload);
    return this.mode === 'sdk-headers' ? { data, attributes: sdkHeaders(topic).headers } : { data };
  }

  private topic(name: string): Topic {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = this.client.topic(name, { messageOrdering: true });
      this.topics.set(name, topic);
    }
    return topic;
  }

  private ensureTopic(topic: string): Promise<void> {
    return this.once(`topic:${topic}`, async () => {
      await this.client.createTopic(topic).catch(alreadyExists);
    });
  }

  private ensureSubscription(topic: string, group: string): Promise<void> {
    return this.once(`subscription:${topic}.${group}`, async () => {
      await this.ensureTopic(topic);
      await this.client
        .createSubscription(topic, `${topic}.${group}`, { ackDeadlineSeconds: 10, enableMessageOrdering: true })
        .catch(alreadyExists);
    });
  }

  private once(key: string, create: () => Promise<void>): Promise<void> {
    let done = this.created.get(key);
    if (!done) {
      done = create();
      this.created.set(key, done);
    }
    return done;
  }
}

function alreadyExists(error: unknown): void {
  if ((error as { code?: number }).code !== 6) throw error;
}
