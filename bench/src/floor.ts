import { randomUUID } from 'node:crypto';
import { type BenchTarget, type Consumer, decodePayload, handle, type OnMessage, type Payload } from './target.js';

/** The encode side: what every message needs before it can go anywhere. */
interface Encoded {
  id: string;
  time: string;
  body: Buffer;
}

function encode(payload: Payload): Encoded {
  return { id: randomUUID(), time: new Date().toISOString(), body: Buffer.from(JSON.stringify(payload), 'utf8') };
}

/**
 * The least an in-process publish→handler→ack pipeline can do per message, to put the memory backend's
 * numbers in proportion: publish is the encode side only (a uuid, an ISO time, JSON.stringify of the
 * payload to a Buffer) handed to each subscription of the topic; a subscription runs up to
 * `concurrency` handlers, each message one promise hop away from its publish, JSON.parse'd, and its
 * handler awaited before its slot frees ("ack"). No retention, ordering, retries, validation or context.
 */
export class InProcessFloor implements BenchTarget {
  private readonly subscriptions = new Map<string, Set<FloorSubscription>>();

  async prepare(): Promise<void> {}

  async publish(topic: string, payload: Payload): Promise<void> {
    this.deliver(topic, encode(payload));
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    for (const payload of payloads) this.deliver(topic, encode(payload));
  }

  async subscribe(topic: string, _group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    let subscriptions = this.subscriptions.get(topic);
    if (!subscriptions) {
      subscriptions = new Set();
      this.subscriptions.set(topic, subscriptions);
    }
    const subscription = new FloorSubscription(concurrency, onMessage);
    subscriptions.add(subscription);
    return {
      close: async () => {
        subscriptions.delete(subscription);
      },
    };
  }

  async cleanup(topic: string): Promise<void> {
    this.subscriptions.delete(topic);
  }

  async close(): Promise<void> {
    this.subscriptions.clear();
  }

  private deliver(topic: string, message: Encoded): void {
    for (const subscription of this.subscriptions.get(topic) ?? []) subscription.push(message);
  }
}

class FloorSubscription {
  /** FIFO with a moving head: Array.shift() would cost the whole queue per message. */
  private queue: Encoded[] = [];
  private head = 0;
  private active = 0;

  constructor(
    private readonly concurrency: number,
    private readonly onMessage: OnMessage,
  ) {}

  push(message: Encoded): void {
    this.queue.push(message);
    this.pump();
  }

  private pump(): void {
    while (this.active < this.concurrency && this.head < this.queue.length) {
      const message = this.queue[this.head++] as Encoded;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      this.active++;
      void this.run(message);
    }
  }

  private async run(message: Encoded): Promise<void> {
    await null; // the one promise hop between publish and handler
    try {
      await handle(this.onMessage, decodePayload(message.body));
    } finally {
      this.active--;
      this.pump();
    }
  }
}
