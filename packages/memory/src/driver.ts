import {
  type Capabilities,
  type ConsumerLag,
  type CreateTopicOptions,
  type Driver,
  type ErrorClassification,
  EventportError,
  type IncomingRecord,
  type OutgoingRecord,
  type Receiver,
  type ReceiverOptions,
  SENT,
  type SendResult,
} from '@eventport/core';
import { type Group, MemoryBroker, type TopicLog } from './broker.js';

export interface MemoryOptions {
  /** Share a broker between adapters (default: one per process, like a server every client talks to). */
  broker?: MemoryBroker;
  /** Consumed records kept per topic for replay (fromBeginning). Default 100,000. */
  retainPerTopic?: number;
  /**
   * Most records a topic keeps that some group has not consumed yet. A publish beyond it fails with
   * RESOURCE_EXHAUSTED (retried, then reported) until the lagging group catches up: memory never
   * drops an unconsumed message. Default 1,000,000.
   */
  maxBacklogPerTopic?: number;
}

const processBroker = new MemoryBroker();

export const MEMORY_CAPABILITIES: Capabilities = {
  orderingKeys: true,
  consumerGroups: true,
  replayFromStart: true,
  // Per process: unconsumed records are never dropped (publish pushes back instead), but die with the process.
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  ephemeralGroups: true,
  deliveryCount: true,
  maxPayloadBytes: 64 * 1024 * 1024,
};

interface MemoryRecord extends IncomingRecord {
  offset: number;
}

export class MemoryDriver implements Driver {
  readonly backend = 'memory';
  readonly capabilities = MEMORY_CAPABILITIES;
  private readonly broker: MemoryBroker;
  private readonly retainPerTopic: number;
  private readonly maxBacklogPerTopic: number;

  constructor(options: MemoryOptions = {}) {
    this.broker = options.broker ?? processBroker;
    this.retainPerTopic = options.retainPerTopic ?? 100_000;
    this.maxBacklogPerTopic = options.maxBacklogPerTopic ?? 1_000_000;
  }

  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {}
  async ping(): Promise<void> {}

  async send(topic: string, records: readonly OutgoingRecord[]): Promise<SendResult[]> {
    const log = this.broker.topic(topic);
    const results = records.map((record): SendResult => {
      if (log.backlog >= this.maxBacklogPerTopic)
        return { ok: false, error: backlogFull(topic, this.maxBacklogPerTopic) };
      // Records are core's own (the codec's body, fresh headers): kept as they are, handed out as they are.
      log.append(record.key, record.headers, record.body);
      return SENT;
    });
    log.trim(this.retainPerTopic);
    log.notifyAll();
    return results;
  }

  async openReceiver(topic: string, options: ReceiverOptions): Promise<Receiver<MemoryRecord>> {
    const log = this.broker.topic(topic);
    const group = log.group(options.group, options.fromBeginning);
    group.members += 1;
    // Forgetting the group is what lets the topic trim what only it still needed.
    const leave = () => {
      group.members -= 1;
      if (options.ephemeral && group.members === 0 && log.groups.get(options.group) === group) {
        log.groups.delete(options.group);
      }
    };
    return new MemoryReceiver(log, group, leave);
  }

  async createTopic(topic: string, _options: CreateTopicOptions): Promise<void> {
    if (this.broker.topics.has(topic)) throw new EventportError('ALREADY_EXISTS', `topic "${topic}" already exists`);
    this.broker.topic(topic);
  }

  async deleteTopic(topic: string): Promise<void> {
    if (!this.broker.delete(topic)) throw new EventportError('NOT_FOUND', `topic "${topic}" does not exist`);
  }

  async listTopics(): Promise<string[]> {
    return [...this.broker.topics.keys()].sort();
  }

  async listGroups(topic: string): Promise<string[]> {
    return [...(this.broker.topics.get(topic)?.groups.keys() ?? [])].sort();
  }

  classify(error: unknown): ErrorClassification {
    if (error instanceof EventportError) return { code: error.code, retryable: error.retryable };
    return { code: 'INTERNAL', retryable: false };
  }

  native(): MemoryBroker {
    return this.broker;
  }
}

function backlogFull(topic: string, limit: number): EventportError {
  return new EventportError(
    'RESOURCE_EXHAUSTED',
    `memory topic "${topic}" holds ${limit} records a consumer group has not consumed yet; ` +
      'publishing waits for the slowest group (raise maxBacklogPerTopic, or consume faster)',
  );
}

/** One member of a group: what it leaves unsettled goes back to the group when it closes. */
class MemoryReceiver implements Receiver<MemoryRecord> {
  private readonly unsettled = new Set<number>();
  private closed = false;

  constructor(
    private readonly log: TopicLog,
    private readonly group: Group,
    private readonly leave: () => void,
  ) {}

  async receive(max: number, signal: AbortSignal): Promise<MemoryRecord[]> {
    while (!this.closed && !signal.aborted) {
      const leases = this.group.take(max);
      if (leases.length > 0) {
        // Room below the backlog limit may have opened for a publisher.
        this.log.trim(Number.POSITIVE_INFINITY);
        return leases.map(({ record, deliveryCount }) => {
          this.unsettled.add(record.offset);
          const delivered: MemoryRecord = {
            id: String(record.offset),
            offset: record.offset,
            headers: record.headers,
            body: record.body,
            deliveryCount,
            meta: { offset: record.offset },
          };
          if (record.key !== undefined) delivered.key = record.key;
          return delivered;
        });
      }
      await this.group.waitForWork(signal);
    }
    return [];
  }

  async settle(acks: readonly MemoryRecord[], nacks: readonly MemoryRecord[]): Promise<void> {
    for (const { offset } of acks) if (this.unsettled.delete(offset)) this.group.ack(offset);
    for (const { offset } of nacks) if (this.unsettled.delete(offset)) this.group.nack(offset);
  }

  async defer(records: readonly MemoryRecord[], delayMs: number): Promise<void> {
    for (const { offset } of records) if (this.unsettled.delete(offset)) this.group.defer(offset, delayMs);
  }

  async lag(): Promise<ConsumerLag> {
    return { messages: this.group.lag };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const offset of this.unsettled) this.group.nack(offset);
    this.unsettled.clear();
    this.group.notify();
    this.leave();
  }
}
