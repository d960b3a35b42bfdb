import type { Admin, Kafka, Consumer as KafkaConsumer, Message, Producer } from 'kafkajs';
import {
  type BenchTarget,
  type Consumer,
  decodePayload,
  encodePayload,
  handle,
  type OnMessage,
  type Payload,
} from '../target.js';
import { cloudEventsNames, sdkHeaders, stringHeaders, type WireMode } from './headers.js';

type KafkaJs = typeof import('kafkajs');

/**
 * kafkajs doing what @eventport/kafka does: producer.send with acks -1 (a batch is one send), and a
 * consumer group reading with eachMessage (partitionsConsumedConcurrently = concurrency, capped by
 * the partition count) with kafkajs's default auto-commit after each batch. With the SDK's headers,
 * they are record headers with the binding's `ce_` names (as packages/kafka/src/driver.ts sends them),
 * read back as strings on the consume side.
 */
export class RawKafka implements BenchTarget {
  private constructor(
    private readonly kafka: Kafka,
    private readonly producer: Producer,
    private readonly admin: Admin,
    private readonly mode: WireMode,
  ) {}

  static async create(brokers: string[], mode: WireMode): Promise<RawKafka> {
    const lib = require('kafkajs') as KafkaJs;
    const kafka = new lib.Kafka({
      clientId: `eventport-bench-${mode}`,
      brokers,
      logLevel: lib.logLevel.ERROR,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    const producer = kafka.producer({
      createPartitioner: lib.Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
    });
    const admin = kafka.admin();
    await Promise.all([producer.connect(), admin.connect()]);
    return new RawKafka(kafka, producer, admin, mode);
  }

  async prepare(): Promise<void> {
    // Kafka keeps what is produced whether or not a group reads it.
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.producer.send({ topic, acks: -1, messages: [this.message(topic, payload)] });
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    await this.producer.send({
      topic,
      acks: -1,
      messages: payloads.map((payload) => this.message(topic, payload)),
    });
  }

  async subscribe(topic: string, group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    const consumer: KafkaConsumer = this.kafka.consumer({
      groupId: group,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      rebalanceTimeout: 20_000,
      maxWaitTimeInMs: 1_000,
      allowAutoTopicCreation: true,
    });
    let joined: () => void = () => undefined;
    const hasJoined = new Promise<void>((resolve) => {
      joined = resolve;
    });
    const removeJoin = consumer.on(consumer.events.GROUP_JOIN, () => joined());
    const removeFetch = consumer.on(consumer.events.FETCH, () => joined());
    await consumer.connect();
    // The group is new and subscribes before anything is published: starting at the beginning loses nothing.
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: Math.max(1, Math.min(concurrency, 16)),
      eachMessage: async ({ message }) => {
        if (this.mode === 'sdk-headers') stringHeaders(message.headers);
        await handle(onMessage, decodePayload(message.value ?? Buffer.alloc(0)));
      },
    });
    await hasJoined;
    return {
      close: async () => {
        removeJoin();
        removeFetch();
        await consumer.disconnect();
      },
    };
  }

  async cleanup(topic: string): Promise<void> {
    await this.admin.deleteTopics({ topics: [topic], timeout: 5_000 }).catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
  }

  private message(topic: string, payload: Payload): Message {
    const value = encodePayload(payload);
    return this.mode === 'sdk-headers'
      ? { value, headers: cloudEventsNames(sdkHeaders(topic).headers, 'ce_') }
      : { value };
  }
}
