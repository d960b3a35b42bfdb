import {
  type Capabilities,
  type CreateTopicOptions,
  type Driver,
  type DriverSubscribeOptions,
  type DriverSubscription,
  EventportError,
  type OutgoingRecord,
  type RecordSink,
} from '@eventport/core';
import { type Group, type Lease, MemoryBroker } from './broker.js';

export interface MemoryOptions {
  /** Share a broker between adapters (default: one per process, like a server every client talks to). */
  broker?: MemoryBroker;
  /** Records kept per topic for replay (at least this many, up to 10% more); older ones are dropped. Default 100,000. */
  retainPerTopic?: number;
}

const processBroker = new MemoryBroker();

export const MEMORY_CAPABILITIES: Capabilities = {
  orderingKeys: true,
  consumerGroups: true,
  replayFromStart: true,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  deliveryCount: true,
  maxPayloadBytes: 64 * 1024 * 1024,
};

export class MemoryDriver implements Driver {
  readonly backend = 'memory';
  readonly capabilities = MEMORY_CAPABILITIES;
  private readonly broker: MemoryBroker;
  private readonly retainPerTopic: number;

  constructor(options: MemoryOptions = {}) {
    this.broker = options.broker ?? processBroker;
    this.retainPerTopic = options.retainPerTopic ?? 100_000;
  }

  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {}
  async ping(): Promise<void> {}

  async send(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    const log = this.broker.topic(topic);
    for (const record of records) {
      // Copies, so a caller mutating its buffer or headers later cannot change what was "sent".
      log.append(record.key, { ...record.headers }, Buffer.from(record.body));
    }
    log.trim(this.retainPerTopic);
    log.notifyAll();
  }

  async subscribe(topic: string, options: DriverSubscribeOptions, sink: RecordSink): Promise<DriverSubscription> {
    const group = this.broker.topic(topic).group(options.group, options.fromBeginning);
    return new MemberLoop(group, sink);
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

  native(): MemoryBroker {
    return this.broker;
  }
}

/** One subscriber of a group: takes records while it runs; what it leaves unsettled goes back on close. */
class MemberLoop implements DriverSubscription {
  private stopped = false;
  private readonly unsettled = new Map<number, Lease>();
  private readonly loop: Promise<void>;

  constructor(
    private readonly group: Group,
    private readonly sink: RecordSink,
  ) {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.group.notify();
    await this.loop;
  }

  async close(): Promise<void> {
    await this.stop();
    for (const lease of this.unsettled.values()) this.group.nack(lease.record.offset, 0);
    this.unsettled.clear();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const lease = this.group.tryTake();
      if (!lease) {
        await this.group.waitForWork();
        continue;
      }
      await this.sink(this.deliver(lease));
    }
  }

  private deliver(lease: Lease) {
    const { record, attempt } = lease;
    this.unsettled.set(record.offset, lease);
    const settle = (action: (offset: number) => void) => async () => {
      if (this.unsettled.delete(record.offset)) action(record.offset);
    };
    return {
      key: record.key,
      headers: { ...record.headers },
      body: record.body,
      attempt,
      meta: { offset: record.offset },
      ack: settle((offset) => this.group.ack(offset)),
      nack: async (delayMs: number) => settle((offset) => this.group.nack(offset, delayMs))(),
    };
  }
}
