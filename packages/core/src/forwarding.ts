import type {
  ConsumeOptions,
  EventAdapter,
  HealthStatus,
  MessageHandler,
  MessageStream,
  SubscribeOptions,
  Subscription,
} from './adapter.js';
import type { Capabilities } from './capabilities.js';
import type { CreateTopicOptions } from './driver.js';
import type { EventMessage, PublishInput } from './message.js';
import { messageStream } from './portable/stream.js';

/**
 * Base for decorators: forwards every call to `inner`, so a decorator overrides only what it changes.
 * consume() is rebuilt on this adapter's subscribe() so a decorator that wraps subscribe also covers
 * consume.
 */
export abstract class ForwardingAdapter implements EventAdapter {
  constructor(protected readonly inner: EventAdapter) {}

  /** The adapter this one decorates, for code that walks a decorator chain. */
  get decorated(): EventAdapter {
    return this.inner;
  }

  get backend(): string {
    return this.inner.backend;
  }
  get capabilities(): Capabilities {
    return this.inner.capabilities;
  }
  connect(): Promise<void> {
    return this.inner.connect();
  }
  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
  publish<T>(message: PublishInput<T>): Promise<EventMessage<T>> {
    return this.inner.publish(message);
  }
  publishBatch<T>(messages: readonly PublishInput<T>[]): Promise<EventMessage<T>[]> {
    return this.inner.publishBatch(messages);
  }
  subscribe<T = unknown>(topic: string, handler: MessageHandler<T>, options?: SubscribeOptions): Promise<Subscription> {
    return this.inner.subscribe(topic, handler, options);
  }
  consume<T = unknown>(topic: string, options: ConsumeOptions = {}): MessageStream<T> {
    return messageStream<T>(
      (handler, subscribeOptions) => this.subscribe<T>(topic, handler, subscribeOptions),
      options,
    );
  }
  createTopic(topic: string, options?: CreateTopicOptions): Promise<void> {
    return this.inner.createTopic(topic, options);
  }
  deleteTopic(topic: string): Promise<void> {
    return this.inner.deleteTopic(topic);
  }
  listTopics(): Promise<string[]> {
    return this.inner.listTopics();
  }
  listGroups(topic: string): Promise<string[]> {
    return this.inner.listGroups(topic);
  }
  health(): Promise<HealthStatus> {
    return this.inner.health();
  }
  native(): unknown {
    return this.inner.native();
  }
}

/** `inner` as seen through a decorator that has more to do on close (release a retry, stop watching). */
export function subscriptionWithClose(inner: Subscription, close: () => Promise<void>): Subscription {
  return {
    topic: inner.topic,
    group: inner.group,
    get inFlight() {
      return inner.inFlight;
    },
    get state() {
      return inner.state;
    },
    lag: () => inner.lag(),
    close,
  };
}

/**
 * The first decorator of class `type` in the chain starting at `adapter`, so a decorator applied a
 * second time (directly or under others) can defer to the first instead of counting twice.
 */
export function findDecorator<D>(adapter: EventAdapter, type: abstract new (...args: never[]) => D): D | undefined {
  let current: EventAdapter | undefined = adapter;
  while (current !== undefined) {
    if (current instanceof type) return current;
    current = current instanceof ForwardingAdapter ? current.decorated : undefined;
  }
  return undefined;
}
