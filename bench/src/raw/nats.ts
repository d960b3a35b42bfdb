import { randomUUID } from 'node:crypto';
import type { JetStreamClient, JetStreamManager, JetStreamPublishOptions } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
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

type Jetstream = typeof import('@nats-io/jetstream');
type Transport = typeof import('@nats-io/transport-node');

/** Like the adapter's dedupe ids: a prefix per client and a sequence, cheaper than a uuid per message. */
const DEDUPE_PREFIX = randomUUID();

/** Same names as @eventport/nats: stream `EP_<topic, "." as "_">` over the subject `<topic>`, file storage. */
const streamName = (topic: string) => `EP_${topic.replace(/\./g, '_')}`;

/**
 * @nats-io/jetstream doing what @eventport/nats does: js.publish with an awaited PubAck per message (a
 * batch is all of them in flight at once), and a durable pull consumer with explicit acks read with
 * consume({ max_messages: concurrency }) and at most `concurrency` unacked (max_ack_pending, as
 * RabbitMQ's prefetch), one ack per message after its handler (not flushed: the adapter's extra round
 * trip per settle batch is part of what the SDK costs). With the SDK's headers, a message carries them
 * as NATS headers plus a Nats-Msg-Id (the adapter's dedupe id), as packages/nats/src/wire.ts writes
 * them, and the consumer reads them back; bare, it carries no header at all (no Nats-Msg-Id either).
 */
export class RawNats implements BenchTarget {
  private readonly streams = new Set<string>();
  private dedupeSequence = 0;

  private constructor(
    private readonly lib: Jetstream,
    private readonly transport: Transport,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly mode: WireMode,
  ) {}

  static async create(url: string, mode: WireMode): Promise<RawNats> {
    const lib = require('@nats-io/jetstream') as Jetstream;
    const transport = require('@nats-io/transport-node') as Transport;
    // noAsyncTraces as the adapter sets it: a stack captured per request is a fifth of publish CPU.
    const nc = await transport.connect({
      servers: url.split(','),
      name: `eventport-bench-${mode}`,
      noAsyncTraces: true,
    });
    return new RawNats(lib, transport, nc, lib.jetstream(nc), await lib.jetstreamManager(nc), mode);
  }

  async prepare(topic: string): Promise<void> {
    await this.stream(topic);
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.stream(topic);
    await this.js.publish(topic, encodePayload(payload), this.options(topic));
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    await this.stream(topic);
    await Promise.all(payloads.map((payload) => this.js.publish(topic, encodePayload(payload), this.options(topic))));
  }

  async subscribe(topic: string, group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    const stream = await this.stream(topic);
    const durable = group.replace(/\./g, '_');
    await this.jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: this.lib.AckPolicy.Explicit,
      deliver_policy: this.lib.DeliverPolicy.New,
      filter_subject: topic,
      max_deliver: -1,
      max_ack_pending: concurrency,
    });
    const consumer = await this.js.consumers.get(stream, durable);
    const messages = await consumer.consume({ max_messages: concurrency });
    const loop = (async () => {
      for await (const msg of messages) {
        if (this.mode === 'sdk-headers') readHeaders(msg.headers);
        void handle(onMessage, decodePayload(msg.data)).then(
          () => msg.ack(),
          () => msg.nak(),
        );
      }
    })();
    return {
      close: async () => {
        await messages.close();
        await loop.catch(() => undefined);
      },
    };
  }

  async cleanup(topic: string): Promise<void> {
    this.streams.delete(topic);
    await this.jsm.streams.delete(streamName(topic));
  }

  async close(): Promise<void> {
    await this.nc.close();
  }

  private options(topic: string): Partial<JetStreamPublishOptions> | undefined {
    if (this.mode === 'bare') return undefined;
    const { headers } = sdkHeaders(topic);
    const encoded = this.transport.headers();
    for (const name in headers) encoded.set(name, headers[name] as string);
    return { msgID: `${DEDUPE_PREFIX}-${++this.dedupeSequence}`, headers: encoded };
  }

  private async stream(topic: string): Promise<string> {
    const name = streamName(topic);
    if (!this.streams.has(topic)) {
      await this.jsm.streams.add({ name, subjects: [topic], storage: this.lib.StorageType.File });
      this.streams.add(topic);
    }
    return name;
  }
}

function readHeaders(headers: MsgHdrs | undefined): Record<string, string> {
  const read: Record<string, string> = {};
  for (const name of headers?.keys() ?? []) read[name] = headers?.get(name) ?? '';
  return read;
}
