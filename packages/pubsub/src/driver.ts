import {
  type Capabilities,
  type CreateTopicOptions,
  type Driver,
  type DriverSubscribeOptions,
  type DriverSubscription,
  EventportError,
  type OutgoingRecord,
  type RecordSink,
  toEventportError,
} from '@eventport/core';
import {
  type ClientConfig,
  type CreateSubscriptionOptions,
  Duration,
  PubSub,
  type Subscription,
  type Topic,
} from '@google-cloud/pubsub';
import { PubSubConsumer } from './consumer.js';
import { classifyPubSubError, GrpcStatus, grpcStatusOf } from './errors.js';
import {
  assertResourceId,
  PUBSUB_MAX_BODY_BYTES,
  type PubSubOptions,
  type ResolvedPubSubOptions,
  resolvePubSubOptions,
} from './options.js';

export const PUBSUB_CAPABILITIES: Capabilities = {
  orderingKeys: true,
  consumerGroups: true,
  // A subscription only holds messages published after it was created (no seek to the topic's start).
  replayFromStart: false,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: true,
  // Pub/Sub reports delivery attempts only on subscriptions with a dead-letter policy.
  deliveryCount: false,
  maxPayloadBytes: PUBSUB_MAX_BODY_BYTES,
};

/** See ConsumerSettings.minStreamLifetimeMs: 300 ms was enough in tests on a busy 2-core machine. */
const EMULATOR_MIN_STREAM_LIFETIME_MS = 1_000;

/** Label put on subscriptions the adapter creates, so deleteTopic removes those and nothing else. */
const CREATED_BY_LABEL = { 'created-by': 'eventport' } as const;

export class PubSubDriver implements Driver {
  readonly backend = 'pubsub';
  readonly capabilities = PUBSUB_CAPABILITIES;
  private readonly settings: ResolvedPubSubOptions;
  private client: PubSub | undefined;
  private readonly publishers = new Map<string, Topic>();
  /** Topics known to exist, so a publish or subscribe does not ask again. */
  private readonly existingTopics = new Set<string>();
  private readonly ensuredSubscriptions = new Map<string, Promise<void>>();

  constructor(options: PubSubOptions) {
    this.settings = resolvePubSubOptions(options);
  }

  async connect(): Promise<void> {
    const config: ClientConfig = { projectId: this.settings.projectId };
    if (this.settings.keyFilename !== undefined) config.keyFilename = this.settings.keyFilename;
    if (this.settings.emulatorHost !== undefined) {
      config.apiEndpoint = this.settings.emulatorHost;
      config.emulatorMode = true;
    }
    this.client = new PubSub(config);
    try {
      await this.ping();
    } catch (error) {
      await this.closeClient();
      throw error;
    }
  }

  async disconnect(): Promise<void> {
    await Promise.allSettled([...this.publishers.values()].map((topic) => topic.flush()));
    this.publishers.clear();
    await this.closeClient();
  }

  async ping(): Promise<void> {
    await this.pubsub().getTopics({
      pageSize: 1,
      autoPaginate: false,
      gaxOpts: { timeout: this.settings.requestTimeoutMs },
    });
  }

  /**
   * Hands every record to the client's publisher, which batches them. A failed ordered publish can pause
   * its ordering key in the client; the key is resumed here so a retry (by the portable layer) can go.
   */
  async send(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    assertResourceId('topic', topic);
    let failed = await this.publishEach(topic, records);
    if (failed.length > 0 && this.settings.autoCreateTopics && failed.some(isNotFound)) {
      this.existingTopics.delete(topic);
      await this.ensureTopic(topic);
      failed = await this.publishEach(
        topic,
        failed.map(({ record }) => record),
      );
    }
    const [first] = failed;
    if (first) throw first.error;
  }

  async subscribe(topic: string, options: DriverSubscribeOptions, sink: RecordSink): Promise<DriverSubscription> {
    assertResourceId('topic', topic);
    const name = this.settings.subscriptionName(topic, options.group);
    assertResourceId('subscription', name);
    const recreate = () => this.ensureSubscription(topic, options.group, name, true);
    await this.ensureSubscription(topic, options.group, name, false);
    const consumer = new PubSubConsumer(this.openSubscription(name, options.maxInFlight), sink, {
      brokerBackoff: this.settings.retryPolicy !== undefined,
      onError: options.onError,
      recreate,
      minStreamLifetimeMs: this.pubsub().isEmulator ? EMULATOR_MIN_STREAM_LIFETIME_MS : 0,
    });
    consumer.start();
    return consumer;
  }

  async createTopic(topic: string, _options: CreateTopicOptions): Promise<void> {
    assertResourceId('topic', topic);
    try {
      await this.pubsub().createTopic(topic, { timeout: this.settings.requestTimeoutMs });
    } catch (error) {
      if (grpcStatusOf(error) === GrpcStatus.ALREADY_EXISTS) {
        throw new EventportError('ALREADY_EXISTS', `topic "${topic}" already exists`, { cause: error });
      }
      throw error;
    }
    this.existingTopics.add(topic);
  }

  /** Deletes the subscriptions this adapter created on the topic (label created-by=eventport), then the topic. */
  async deleteTopic(topic: string): Promise<void> {
    assertResourceId('topic', topic);
    const handle = this.pubsub().topic(topic);
    const gaxOpts = { timeout: this.settings.requestTimeoutMs };
    let subscriptions: Subscription[];
    try {
      [subscriptions] = await handle.getSubscriptions({ gaxOpts });
    } catch (error) {
      if (grpcStatusOf(error) === GrpcStatus.NOT_FOUND) {
        throw new EventportError('NOT_FOUND', `topic "${topic}" does not exist`, { cause: error });
      }
      throw error;
    }
    await Promise.all(
      subscriptions.map(async (subscription) => {
        const [metadata] = await subscription.getMetadata({ timeout: this.settings.requestTimeoutMs });
        if (metadata.labels?.['created-by'] !== CREATED_BY_LABEL['created-by']) return;
        await subscription.delete({ timeout: this.settings.requestTimeoutMs }).catch((error: unknown) => {
          if (grpcStatusOf(error) !== GrpcStatus.NOT_FOUND) throw error;
        });
        this.ensuredSubscriptions.delete(shortName(subscription.name));
      }),
    );
    try {
      await handle.delete({ timeout: this.settings.requestTimeoutMs });
    } catch (error) {
      if (grpcStatusOf(error) === GrpcStatus.NOT_FOUND) {
        throw new EventportError('NOT_FOUND', `topic "${topic}" does not exist`, { cause: error });
      }
      throw error;
    } finally {
      this.existingTopics.delete(topic);
      this.publishers.delete(topic);
    }
  }

  async listTopics(): Promise<string[]> {
    const [topics] = await this.pubsub().getTopics({ gaxOpts: { timeout: this.settings.requestTimeoutMs } });
    return topics.map((topic) => shortName(topic.name)).sort();
  }

  classifyError(error: unknown) {
    return classifyPubSubError(error);
  }

  native(): PubSub {
    return this.pubsub();
  }

  private pubsub(): PubSub {
    if (!this.client) throw new EventportError('CLOSED', 'the Pub/Sub client is not connected');
    return this.client;
  }

  private async closeClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  private publisher(topic: string): Topic {
    let handle = this.publishers.get(topic);
    if (!handle) {
      handle = this.pubsub().topic(topic, {
        messageOrdering: true,
        ...(this.settings.batching ? { batching: this.settings.batching } : {}),
      });
      this.publishers.set(topic, handle);
    }
    return handle;
  }

  /** Publishes every record; returns the ones that failed, in their original order. */
  private async publishEach(
    topic: string,
    records: readonly OutgoingRecord[],
  ): Promise<Array<{ record: OutgoingRecord; error: unknown }>> {
    const handle = this.publisher(topic);
    const outcomes = await Promise.allSettled(
      records.map((record) =>
        handle.publishMessage({
          data: record.body,
          attributes: record.headers,
          ...(record.key !== undefined ? { orderingKey: record.key } : {}),
        }),
      ),
    );
    const failed: Array<{ record: OutgoingRecord; error: unknown }> = [];
    outcomes.forEach((outcome, index) => {
      const record = records[index] as OutgoingRecord;
      if (outcome.status === 'rejected') failed.push({ record, error: outcome.reason });
    });
    for (const key of new Set(failed.map(({ record }) => record.key))) {
      if (key !== undefined) handle.resumePublishing(key);
    }
    return failed;
  }

  private async ensureTopic(topic: string): Promise<void> {
    if (this.existingTopics.has(topic)) return;
    try {
      await this.pubsub().createTopic(topic, { timeout: this.settings.requestTimeoutMs });
    } catch (error) {
      if (grpcStatusOf(error) !== GrpcStatus.ALREADY_EXISTS) throw error;
    }
    this.existingTopics.add(topic);
  }

  /**
   * Creates the group's subscription unless it exists (an existing one is used as it is: Pub/Sub cannot
   * change ordering or dead-lettering afterwards). Concurrent subscribers of one group share the call.
   */
  private ensureSubscription(topic: string, group: string, name: string, force: boolean): Promise<void> {
    const known = this.ensuredSubscriptions.get(name);
    if (known && !force) return known;
    const ensured = this.createSubscriptionIfMissing(topic, group, name);
    this.ensuredSubscriptions.set(name, ensured);
    ensured.catch(() => {
      if (this.ensuredSubscriptions.get(name) === ensured) this.ensuredSubscriptions.delete(name);
    });
    return ensured;
  }

  private async createSubscriptionIfMissing(topic: string, group: string, name: string): Promise<void> {
    const metadata: CreateSubscriptionOptions = {
      ackDeadlineSeconds: this.settings.ackDeadlineSeconds,
      enableMessageOrdering: this.settings.messageOrdering,
      labels: { ...CREATED_BY_LABEL },
      gaxOpts: { timeout: this.settings.requestTimeoutMs },
    };
    const { deadLetter, retryPolicy } = this.settings;
    if (deadLetter) {
      const deadLetterTopic = deadLetter.topic(topic);
      assertResourceId('topic', deadLetterTopic);
      await this.ensureTopic(deadLetterTopic);
      // Without a subscription on it, Pub/Sub would drop what it dead-letters; the same group reads it.
      await this.createSubscriptionOn(deadLetterTopic, this.settings.subscriptionName(deadLetterTopic, group), {
        ackDeadlineSeconds: this.settings.ackDeadlineSeconds,
        labels: { ...CREATED_BY_LABEL },
        gaxOpts: { timeout: this.settings.requestTimeoutMs },
      });
      metadata.deadLetterPolicy = {
        deadLetterTopic: this.pubsub().topic(deadLetterTopic).name,
        maxDeliveryAttempts: deadLetter.maxDeliveryAttempts,
      };
    }
    if (retryPolicy) {
      metadata.retryPolicy = {
        minimumBackoff: toProtoDuration(retryPolicy.minimumBackoffMs),
        maximumBackoff: toProtoDuration(retryPolicy.maximumBackoffMs),
      };
    }
    await this.createSubscriptionOn(topic, name, metadata);
  }

  private async createSubscriptionOn(topic: string, name: string, metadata: CreateSubscriptionOptions): Promise<void> {
    if (!this.existingTopics.has(topic) && this.settings.autoCreateTopics) await this.ensureTopic(topic);
    try {
      await this.pubsub().createSubscription(topic, name, metadata);
    } catch (error) {
      const status = grpcStatusOf(error);
      if (status === GrpcStatus.ALREADY_EXISTS) return;
      if (status === GrpcStatus.NOT_FOUND && this.settings.autoCreateTopics) {
        // The topic was deleted since this adapter last saw it.
        this.existingTopics.delete(topic);
        await this.ensureTopic(topic);
        await this.createSubscriptionOn(topic, name, metadata);
        return;
      }
      if (status === GrpcStatus.NOT_FOUND) {
        throw toEventportError(
          error,
          'NOT_FOUND',
          `topic "${topic}" does not exist (autoCreateTopics is off); create it first`,
        );
      }
      throw error;
    }
  }

  private openSubscription(name: string, maxInFlight: number): Subscription {
    return this.pubsub().subscription(name, {
      flowControl: { maxMessages: maxInFlight, allowExcessMessages: false },
      maxAckDeadline: Duration.from({ seconds: this.settings.ackDeadlineSeconds }),
      maxExtensionTime: Duration.from({ minutes: this.settings.maxLeaseMinutes }),
      batching: { maxMilliseconds: this.settings.ackBatchMilliseconds },
      streamingOptions: { maxStreams: this.settings.streams },
      // Whatever is still leased when close() runs (held after stop, or past the drain timeout) is nacked.
      closeOptions: { behavior: 'NACK' },
    });
  }
}

function isNotFound({ error }: { error: unknown }): boolean {
  return grpcStatusOf(error) === GrpcStatus.NOT_FOUND;
}

function shortName(resourceName: string): string {
  return resourceName.slice(resourceName.lastIndexOf('/') + 1);
}

function toProtoDuration(milliseconds: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(milliseconds / 1000), nanos: (milliseconds % 1000) * 1_000_000 };
}
