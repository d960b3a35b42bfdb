import type * as ep from '@eventport/core';
import { abortable, EventportError, PushBuffer, pause, sendEach, withAbortion } from '@eventport/core';
import type * as JS from '@nats-io/jetstream';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, type NatsConnection, type NodeConnectionOptions, nanos } from '@nats-io/transport-node';
import type { NatsConfig } from './index.js';
import { apiCode, classifyNatsError, decodeRecord, encodeHeaders, isNoResponders, isNotFound } from './wire.js';

type Settings = Pick<NatsConfig, 'streamPrefix' | 'ackWaitMs' | 'requestTimeoutMs' | 'stream' | 'consumer'>;
export type NatsDriverOptions = Settings & { connection: NodeConnectionOptions };

export const NATS_CAPABILITIES: ep.Capabilities = {
  // Members of a group pull from one consumer: two can hold one key at once (see the README).
  orderingKeys: false,
  consumerGroups: true,
  replayFromStart: true,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  ephemeralGroups: true,
  deliveryCount: true,
  // The server's default max_payload (1 MiB) counts headers too.
  maxPayloadBytes: 1024 * 1024 - 16 * 1024,
};

type NatsRecord = ep.IncomingRecord & { msg: JS.JsMsg };
type Client = { nc: NatsConnection; js: JS.JetStreamClient; jsm: JS.JetStreamManager };
const GROUP = /^eventport group (.*) of (.*)$/s;
/**
 * The server removes an ephemeral group's consumer this long after its last pull, should the process die
 * before close() deletes it. Long, because a member whose window is full of slow handlers pulls nothing.
 */
const EPHEMERAL_IDLE_MS = 5 * 60_000;

/** Topic = subject, in the stream that captures it (else one made for it); group = durable pull consumer (ephemeral: deleted on close). */
export class NatsDriver implements ep.Driver {
  readonly backend = 'nats';
  readonly capabilities = NATS_CAPABILITIES;
  readonly classify = classifyNatsError;
  readonly autoCreateTopics = true;
  readonly native = (): Client => this.connected();
  private connecting: Promise<NatsConnection> | undefined;
  private client: Client | undefined;
  private readonly streamName = (topic: string) => natsName(`${this.options.streamPrefix}${topic}`);

  constructor(private readonly options: NatsDriverOptions) {}

  async connect(signal: AbortSignal): Promise<void> {
    this.connecting = connect(this.options.connection);
    const nc = await abortable(this.connecting, signal);
    const timeout = this.options.requestTimeoutMs;
    const jsm = await abortable(jetstreamManager(nc, { timeout }), signal);
    this.client = { nc, js: jetstream(nc, { timeout }), jsm };
  }

  async disconnect(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = this.client = undefined;
    await (await connecting?.catch(() => undefined))?.close();
  }

  async send(topic: string, records: readonly ep.OutgoingRecord[], signal: AbortSignal): Promise<ep.SendResult[]> {
    const { js } = this.connected();
    const timeout = this.options.requestTimeoutMs;
    // Nats-Msg-Id = the publish call's id: a retry after a lost PubAck is stored once, a replay again.
    const publish = (record: ep.OutgoingRecord) =>
      js
        .publish(topic, record.body, { msgID: record.dedupeId, headers: encodeHeaders(record), timeout })
        .catch((error) => {
          // No stream captures the subject (yet, or any more), or JetStream is not up: core creates one and sends again.
          if (!isNoResponders(error)) throw error;
          throw new EventportError('NOT_FOUND', `no stream captures "${topic}"`, { cause: error, retryable: true });
        });
    return withAbortion(signal, (stop) => sendEach(records, (record) => Promise.race([publish(record), stop])));
  }

  async openReceiver(topic: string, options: ep.ReceiverOptions, _: AbortSignal): Promise<ep.Receiver<NatsRecord>> {
    const { js, jsm, nc } = this.connected();
    const stream = await this.findStream(topic);
    // Core creates the stream (autoCreateTopics) and opens again.
    if (!stream) throw new EventportError('NOT_FOUND', `no stream captures "${topic}"`);
    const name = this.consumerName(stream, topic, options.group);
    const description = `eventport group ${options.group} of ${topic}`;
    const info = await jsm.consumers.info(stream, name).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
      return jsm.consumers.add(stream, {
        ack_policy: AckPolicy.Explicit,
        deliver_policy: options.fromBeginning ? DeliverPolicy.All : DeliverPolicy.New,
        ack_wait: nanos(this.options.ackWaitMs),
        // Poison is core's call (and the DLQ's): the server never gives up on a message by itself.
        max_deliver: -1,
        ...(options.ephemeral && { inactive_threshold: nanos(EPHEMERAL_IDLE_MS) }),
        ...this.options.consumer,
        ...(options.ephemeral ? { name } : { durable_name: name }),
        ...{ filter_subject: topic, description },
      });
    });
    // Closing an ephemeral member deletes the consumer: never one that is a durable group (or another's).
    const found = `${info.config.description}${info.config.durable_name ? '' : ' (ephemeral)'}`;
    const wanted = `${description}${options.ephemeral ? ' (ephemeral)' : ''}`;
    if (found !== wanted)
      throw new EventportError('CONFLICT', `consumer ${name} of ${stream} is ${found}, not ${wanted}`);
    const consumer = await js.consumers.get(stream, name);
    // Running handlers' messages are marked in progress every third of the ack wait, well before they time out.
    return new NatsReceiver(
      { consumer, nc, limit: options.maxUnsettled, ephemeral: options.ephemeral === true },
      Math.floor(this.options.ackWaitMs / 3),
    );
  }

  async deleteGroup(topic: string, group: string): Promise<void> {
    const stream = await this.findStream(topic);
    if (!stream) return;
    await this.connected()
      .jsm.consumers.delete(stream, this.consumerName(stream, topic, group))
      .catch((error: unknown) => (isNotFound(error) ? true : Promise.reject(error)));
  }

  /** The groups whose consumers this driver named, from their descriptions (consumer names lose "." to "_"). */
  async listGroups(topic: string): Promise<string[]> {
    const stream = await this.findStream(topic);
    if (!stream) return [];
    const groups: string[] = [];
    for await (const { name, config } of this.connected().jsm.consumers.list(stream)) {
      const [, group, of] = GROUP.exec(config.description ?? '') ?? [];
      const ours = group !== undefined && of === topic && config.filter_subject === topic;
      if (ours && name === this.consumerName(stream, topic, group)) groups.push(group);
    }
    return groups.sort();
  }

  /** Idempotent: JetStream creates a stream only where none with that name exists. */
  async createTopic(topic: string): Promise<void> {
    const name = this.streamName(topic);
    await this.connected()
      .jsm.streams.add({
        storage: StorageType.File,
        ...this.options.stream,
        name,
        subjects: [topic],
      } as JS.StreamConfig)
      .catch((error: unknown) => {
        if (apiCode(error) !== 10058) throw error;
        const why = 'topics that differ only in "." and "_" share a stream name';
        throw new EventportError('CONFLICT', `stream ${name} exists for other subjects than ${topic}: ${why}`);
      });
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.connected().jsm.streams.delete(this.streamName(topic));
  }

  async listTopics(): Promise<string[]> {
    const topics: string[] = [];
    for await (const { config } of this.connected().jsm.streams.list()) {
      const [subject, ...others] = config.subjects ?? [];
      if (config.name.startsWith(this.options.streamPrefix) && subject && others.length === 0) topics.push(subject);
    }
    return topics.sort();
  }

  async ping(signal: AbortSignal): Promise<void> {
    await abortable(this.connected().jsm.getAccountInfo(), signal);
  }

  private connected(): Client {
    if (!this.client) throw new EventportError('CLOSED', 'the nats connection is not open');
    return this.client;
  }

  /** In eventport's own stream the topic is the only subject; in a shared one the name says which. */
  private consumerName(stream: string, topic: string, group: string): string {
    return natsName(stream === this.streamName(topic) ? group : `${group}__${topic}`);
  }

  private async findStream(topic: string): Promise<string | undefined> {
    const { streams } = this.connected().jsm;
    return streams.find(topic).catch((error) => (isNotFound(error) ? undefined : Promise.reject(error)));
  }
}

/** One member: one pull open at a time, so at most maxUnsettled records are delivered and unsettled. */
class NatsReceiver implements ep.Receiver<NatsRecord> {
  private readonly buffer = new PushBuffer<NatsRecord>();
  private readonly held = new Set<JS.JsMsg>();
  private pulling: Promise<JS.ConsumerMessages> | undefined;
  private closed = false;
  private expires = 0;

  constructor(
    private readonly at: {
      consumer: JS.Consumer;
      nc: NatsConnection;
      limit: number;
      /** Core deletes an ephemeral group's consumer once its members are closed. */
      ephemeral: boolean;
    },
    readonly extendEveryMs: number,
  ) {}

  async receive(max: number, signal: AbortSignal): Promise<NatsRecord[]> {
    this.pull();
    const records = await this.buffer.receive(max, signal);
    for (const { msg } of records) this.held.add(msg);
    return records;
  }

  async settle(acks: readonly NatsRecord[], nacks: readonly NatsRecord[]): Promise<void> {
    for (const { msg } of acks) if (this.held.delete(msg)) msg.ack();
    // Core has waited out the redelivery delay already: the message is due now.
    for (const { msg } of nacks) if (this.held.delete(msg)) msg.nak();
    // Not flushed (a round trip per batch): acks go out with the client's next write, and close() flushes.
    this.pull();
  }

  /** `nak(delay)`: the server redelivers after the delay, and the window has room meanwhile. */
  async defer(records: readonly NatsRecord[], delayMs: number): Promise<void> {
    for (const { msg } of records) if (this.held.delete(msg)) msg.nak(delayMs);
    this.pull();
  }

  async extend(records: readonly NatsRecord[], signal: AbortSignal): Promise<void> {
    for (const { msg } of records) msg.working();
    await abortable(this.at.nc.flush(), signal);
  }

  /**
   * Delivered and not yet acked counts too (in flight, or nak'd and due again): the group is behind until
   * it has settled them, as committed offsets are elsewhere.
   */
  async lag(signal: AbortSignal): Promise<ep.ConsumerLag> {
    const info = await abortable(this.at.consumer.info(), signal);
    return { messages: info.num_pending + info.num_ack_pending };
  }

  async close(): Promise<void> {
    this.closed = true;
    await (await this.pulling?.catch(() => undefined))?.close();
    const back = [...this.buffer.end().map((record) => record.msg), ...this.held];
    // Nothing to give back to a consumer about to be deleted.
    if (this.at.ephemeral) return;
    // nats-server 2.9 misroutes naks while a stopped pull is still pending there: let it expire first.
    if (back.length > 0) await pause(this.expires - Date.now());
    for (const msg of back) msg.nak();
    if (!this.at.nc.isClosed()) await this.at.nc.flush();
  }

  /** Opens a pull (unless one is open) for what the window has room for: maxUnsettled less what is held or buffered. */
  private pull(): void {
    const room = this.at.limit - this.held.size - this.buffer.size;
    if (this.pulling || this.closed || room <= 0) return;
    // A pull waits up to 3 s on the server; the client wants a heartbeat every 1.5 s or fails it.
    const pulling = this.at.consumer.fetch({ max_messages: room, expires: 3_000 });
    this.expires = Date.now() + 3_000;
    this.pulling = pulling;
    pulling
      .then(async (messages) => {
        for await (const msg of messages) {
          if (this.closed) msg.nak();
          else void this.buffer.push({ ...decodeRecord(msg), msg });
        }
        this.pulling = undefined;
        this.pull();
      })
      // Missed heartbeats, a deleted consumer or stream, a closed connection: core replaces this receiver.
      .catch((error: unknown) => {
        this.pulling = undefined;
        this.buffer.fail(error);
      });
  }
}

const natsName = (name: string) => name.replace(/\./g, '_');
