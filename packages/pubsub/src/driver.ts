import { randomBytes } from 'node:crypto';
import {
  abortable,
  type Capabilities,
  type Driver,
  EventportError,
  isGroupName,
  type OutgoingRecord,
  type ReceiverOptions,
  type SendResult,
  sendEach,
} from '@eventport/core';
import { type CreateSubscriptionOptions, Duration, PubSub, type Topic } from '@google-cloud/pubsub';
import { classifyPubSubError, GrpcStatus, grpcStatusOf, sanitizePubSubError } from './errors.js';
import { assertResourceId, defaultSubscriptionName, PUBSUB_MAX_BODY_BYTES, type PubSubConfig } from './options.js';
import { PubSubReceiver } from './receiver.js';

export const PUBSUB_CAPABILITIES: Capabilities = {
  orderingKeys: true,
  consumerGroups: true,
  // A subscription only holds messages published after it was created (no seek to the topic's start).
  replayFromStart: false,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: true,
  ephemeralGroups: true,
  // Pub/Sub counts deliveries only on subscriptions with a dead-letter policy (true with the deadLetter option).
  deliveryCount: false,
  maxPayloadBytes: PUBSUB_MAX_BODY_BYTES,
};

/** See PubSubReceiver: 300 ms was enough in tests on a busy 2-core machine. */
const EMULATOR_MIN_STREAM_LIFETIME_MS = 1_000;
/** Label of the subscriptions the driver creates: deleteTopic removes those and nothing else. */
const LABELS = { 'created-by': 'eventport' };
/** Pub/Sub's shortest: the subscription of an ephemeral receiver whose process died goes after a day unused. */
const EPHEMERAL_EXPIRATION = { ttl: { seconds: 24 * 60 * 60 } };
/**
 * What an ephemeral receiver's subscription name adds after its group: "~" is not allowed in a group,
 * so it never names a durable one.
 */
const EPHEMERAL_SUFFIX = /~[0-9a-f]{12}$/;

export class PubSubDriver implements Driver {
  readonly backend = 'pubsub';
  readonly capabilities: Capabilities;
  readonly autoCreateTopics: boolean;
  private client: PubSub | undefined;
  private readonly publishers = new Map<string, Topic>();
  /** gRPC deadline of every call; admin and ack calls keep the client's retries of transient errors within it. */
  private readonly gaxOpts: { timeout: number };
  /** Ping and publish without the client's retries (a refused connection fails now): core retries sends itself. */
  private readonly once: { timeout: number; retry: null };

  constructor(private readonly config: PubSubConfig) {
    this.autoCreateTopics = config.autoCreateTopics;
    this.capabilities = { ...PUBSUB_CAPABILITIES, deliveryCount: config.deadLetter !== undefined };
    this.gaxOpts = { timeout: config.requestTimeoutMs };
    this.once = { timeout: config.requestTimeoutMs, retry: null };
  }

  async connect(signal: AbortSignal): Promise<void> {
    const { projectId, keyFilename, authClient, emulatorHost, clientConfig } = this.config;
    // Emulator mode (no TLS, no credentials) only when configured, never guessed from the endpoint.
    const emulator = { apiEndpoint: emulatorHost, emulatorMode: !!emulatorHost };
    this.client = new PubSub({ projectId, keyFilename, authClient, ...emulator, ...clientConfig });
    await this.ping(signal);
  }

  async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.publishers.clear();
    await client?.close();
  }

  async ping(signal: AbortSignal): Promise<void> {
    await abortable(this.pubsub().getTopics({ pageSize: 1, autoPaginate: false, gaxOpts: this.once }), signal);
  }

  /**
   * Publishes each record (the client batches them), one result per record; core creates a missing topic
   * (autoCreateTopics) and sends again. A failed ordered publish pauses its key in the client (later
   * publishes with it fail at once); the key is resumed so that core's retry of the record can go.
   */
  async send(topic: string, records: readonly OutgoingRecord[], signal: AbortSignal): Promise<SendResult[]> {
    assertResourceId('topic', topic);
    let publisher = this.publishers.get(topic);
    if (!publisher) {
      const { batching } = this.config;
      publisher = this.pubsub().topic(topic, {
        messageOrdering: true,
        gaxOpts: this.once,
        ...(batching && { batching }),
      });
      this.publishers.set(topic, publisher);
    }
    const handle = publisher;
    const sent = sendEach(records, ({ body, headers, key }) =>
      handle
        .publishMessage({ data: body, attributes: headers, ...(key !== undefined && { orderingKey: key }) })
        .catch((error: unknown) => {
          // The client holds back the key after a failure until told to go on: core's retry resends it.
          if (key !== undefined) handle.resumePublishing(key);
          throw error;
        }),
    );
    return abortable(sent, signal);
  }

  async openReceiver(topic: string, options: ReceiverOptions, signal: AbortSignal): Promise<PubSubReceiver> {
    assertResourceId('topic', topic);
    if (options.fromBeginning) {
      throw new EventportError(
        'UNSUPPORTED',
        'pubsub cannot replay a topic from its start (capabilities.replayFromStart is false): a subscription holds what is published after it exists',
      );
    }
    const { group, ephemeral = false } = options;
    // Not the configured subscriptionName: it may name an existing subscription, which close would delete.
    const name = ephemeral
      ? defaultSubscriptionName(topic, `${group}~${randomBytes(6).toString('hex')}`)
      : this.config.subscriptionName(topic, group);
    assertResourceId('subscription', name);
    await abortable(this.createSubscription(topic, group, name, ephemeral), signal);
    const { ackDeadlineSeconds, maxLeaseMinutes, ackBatchMilliseconds, streams, requestTimeoutMs } = this.config;
    const subscription = this.pubsub().subscription(name, {
      // The window is released by settle only, so core's maxUnsettled bounds what the broker hands out.
      flowControl: { maxMessages: options.maxUnsettled, allowExcessMessages: false },
      maxAckDeadline: Duration.from({ seconds: ackDeadlineSeconds }),
      maxExtensionTime: Duration.from({ minutes: maxLeaseMinutes }),
      batching: { maxMilliseconds: ackBatchMilliseconds, callOptions: this.gaxOpts },
      streamingOptions: { maxStreams: streams, timeout: requestTimeoutMs },
      closeOptions: { behavior: 'NACK', timeout: Duration.from({ milliseconds: requestTimeoutMs }) },
    });
    const release = ephemeral ? () => subscription.delete(this.gaxOpts).catch(ignore(GrpcStatus.NOT_FOUND)) : undefined;
    return new PubSubReceiver(subscription, this.pubsub().isEmulator ? EMULATOR_MIN_STREAM_LIFETIME_MS : 0, release);
  }

  async createTopic(topic: string, _options: unknown, signal: AbortSignal): Promise<void> {
    assertResourceId('topic', topic);
    await abortable(this.pubsub().createTopic(topic, this.gaxOpts), signal);
  }

  /** Deletes the subscriptions this driver created on the topic (label created-by=eventport), then the topic. */
  async deleteTopic(topic: string, signal: AbortSignal): Promise<void> {
    assertResourceId('topic', topic);
    this.publishers.delete(topic);
    const handle = this.pubsub().topic(topic);
    const [subscriptions] = await abortable(handle.getSubscriptions({ gaxOpts: this.gaxOpts }), signal);
    for (const subscription of subscriptions) {
      const [metadata] = await abortable(subscription.getMetadata(this.gaxOpts), signal);
      if (metadata.labels?.['created-by'] !== LABELS['created-by']) continue;
      await abortable(subscription.delete(this.gaxOpts), signal).catch(ignore(GrpcStatus.NOT_FOUND));
    }
    await abortable(handle.delete(this.gaxOpts), signal);
  }

  async listTopics(signal: AbortSignal): Promise<string[]> {
    const [topics] = await abortable(this.pubsub().getTopics({ gaxOpts: this.gaxOpts }), signal);
    return topics.map((topic) => topic.name.slice(topic.name.lastIndexOf('/') + 1)).sort();
  }

  /** Only subscriptions named as openReceiver names them by default: others cannot be mapped back to a group. */
  async listGroups(topic: string, signal: AbortSignal): Promise<string[]> {
    assertResourceId('topic', topic);
    const handle = this.pubsub().topic(topic);
    const [subscriptions] = await abortable(handle.getSubscriptions({ gaxOpts: this.gaxOpts }), signal);
    const groups = new Set<string>();
    for (const subscription of subscriptions) {
      const name = subscription.name.slice(subscription.name.lastIndexOf('/') + 1);
      if (!name.startsWith(`${topic}.`)) continue;
      const rest = name.slice(topic.length + 1);
      const ephemeral = EPHEMERAL_SUFFIX.test(rest);
      const group = ephemeral ? rest.replace(EPHEMERAL_SUFFIX, '') : rest;
      if (isGroupName(group) && (ephemeral || this.config.subscriptionName(topic, group) === name)) groups.add(group);
    }
    return [...groups].sort();
  }

  classify(error: unknown) {
    return classifyPubSubError(error) ?? { code: 'INTERNAL' as const, retryable: false };
  }

  sanitize(error: unknown): unknown {
    return sanitizePubSubError(error);
  }

  native(): PubSub {
    return this.pubsub();
  }

  private pubsub(): PubSub {
    if (!this.client) throw new EventportError('CLOSED', 'the Pub/Sub client is not connected');
    return this.client;
  }

  private async ensureTopic(topic: string): Promise<void> {
    await this.pubsub().createTopic(topic, this.gaxOpts).catch(ignore(GrpcStatus.ALREADY_EXISTS));
  }

  /**
   * Creates the group's subscription unless it exists (an existing one is used as it is: Pub/Sub
   * cannot change ordering or dead-lettering later), with the dead-letter topic and a subscription
   * on it for the same group (Pub/Sub would otherwise drop what it dead-letters).
   */
  private async createSubscription(topic: string, group: string, name: string, ephemeral: boolean): Promise<void> {
    const { ackDeadlineSeconds, deadLetter, retryPolicy } = this.config;
    const metadata: CreateSubscriptionOptions = { ackDeadlineSeconds, labels: LABELS, gaxOpts: this.gaxOpts };
    // A throwaway look neither dead-letters into the group's topic nor leaves a subscription on it.
    if (ephemeral) metadata.expirationPolicy = EPHEMERAL_EXPIRATION;
    else if (deadLetter) {
      const dlq = deadLetter.topic(topic);
      assertResourceId('topic', dlq);
      await this.ensureTopic(dlq);
      await this.createSubscriptionOn(dlq, this.config.subscriptionName(dlq, group), metadata);
      const { maxDeliveryAttempts } = deadLetter;
      metadata.deadLetterPolicy = { deadLetterTopic: this.pubsub().topic(dlq).name, maxDeliveryAttempts };
    }
    if (retryPolicy) {
      const { minimumBackoffMs: min, maximumBackoffMs: max } = retryPolicy;
      metadata.retryPolicy = { minimumBackoff: protoDuration(min), maximumBackoff: protoDuration(max) };
    }
    metadata.enableMessageOrdering = this.config.messageOrdering;
    await this.createSubscriptionOn(topic, name, metadata);
  }

  /** A missing topic fails NOT_FOUND: core creates it (autoCreateTopics) and opens the receiver again. */
  private async createSubscriptionOn(topic: string, name: string, metadata: CreateSubscriptionOptions): Promise<void> {
    await this.pubsub()
      .createSubscription(topic, name, metadata)
      .catch((error: unknown) => {
        const status = grpcStatusOf(error);
        if (status === GrpcStatus.ALREADY_EXISTS) return;
        if (status !== GrpcStatus.NOT_FOUND || this.autoCreateTopics) throw error;
        const message = `topic "${topic}" does not exist (autoCreateTopics is off); create it first`;
        throw new EventportError('NOT_FOUND', message, { cause: error });
      });
  }
}

function ignore(status: number): (error: unknown) => void {
  return (error) => {
    if (grpcStatusOf(error) !== status) throw error;
  };
}

function protoDuration(milliseconds: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(milliseconds / 1000), nanos: (milliseconds % 1000) * 1_000_000 };
}
