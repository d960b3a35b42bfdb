import type { ConsumeOptions, EventAdapter, InvalidMessageHook, SubscribeOptions, Subscription } from './adapter.js';
import { EventportError, InvalidMessageError } from './errors.js';
import { createAdapter } from './factory.js';
import type { EventMessage, Headers, ReceivedMessage } from './message.js';
import { messageStream } from './portable/stream.js';
import { formatIssues, type StandardSchemaV1 } from './standard-schema.js';
import { VersionedEvent } from './versioning.js';

type Input<S extends StandardSchemaV1> = StandardSchemaV1.InferInput<S>;
type Output<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>;

export interface EventChannelOptions<S extends StandardSchemaV1> {
  /**
   * Validates `data` on push and on pull: any Standard Schema (zod 3 or 4, valibot, arktype...), or a
   * VersionedEvent whose older versions are upcast on pull (push writes the latest version and its
   * event-version header).
   */
  schema: S | VersionedEvent<S>;
  /** With a VersionedEvent: the version handlers receive (default: the latest). */
  version?: number;
  /** Events named `name` travel on topic `<topicPrefix>.<name>`. */
  topicPrefix: string;
  /** Default: createAdapter() from EVENT_TYPE and the backend's env vars, made on first use. */
  adapter?: EventAdapter | Promise<EventAdapter>;
  /** Deliveries that fail the schema or cannot be decoded. Default: logged and left with the broker. */
  onInvalid?: InvalidMessageHook;
}

export interface PushOptions {
  key?: string;
  headers?: Headers;
  id?: string;
}

export type ChannelHandler<T> = (event: ReceivedMessage<T>) => Promise<void> | void;

/**
 * A typed view of a group of topics: push validates before publishing, pull validates before your
 * code sees the event. Invalid deliveries go to `onInvalid`, never into your handler and never crash
 * the loop.
 */
export class EventChannel<S extends StandardSchemaV1> {
  private adapterPromise: Promise<EventAdapter> | undefined;

  constructor(private readonly options: EventChannelOptions<S>) {
    if (!/^[A-Za-z0-9._-]+$/.test(options.topicPrefix)) {
      throw new EventportError('INVALID_ARGUMENT', `topicPrefix may contain only letters, digits, ".", "_" and "-"`);
    }
  }

  adapter(): Promise<EventAdapter> {
    this.adapterPromise ??= Promise.resolve(this.options.adapter ?? createAdapter());
    return this.adapterPromise;
  }

  topic(name: string): string {
    return `${this.options.topicPrefix}.${name}`;
  }

  async push(name: string, data: Input<S>, options: PushOptions = {}): Promise<EventMessage<Output<S>>> {
    const { schema } = this.options;
    let payload: Output<S>;
    let headers = options.headers ?? {};
    if (schema instanceof VersionedEvent) {
      const encoded = schema.encode(data, this.options.version);
      payload = encoded.data as Output<S>;
      headers = { ...headers, ...encoded.headers };
    } else {
      const result = await schema['~standard'].validate(data);
      if (result.issues) {
        throw new EventportError(
          'INVALID_ARGUMENT',
          `event "${name}" does not match the channel schema: ${formatIssues(result.issues)}`,
        );
      }
      payload = result.value as Output<S>;
    }
    const adapter = await this.adapter();
    return adapter.publish({ topic: this.topic(name), data: payload, ...options, headers });
  }

  /** With a handler: subscribes and resolves with the Subscription. Without: an async iterator (acks when you ask for the next event). */
  pull(name: string, handler: ChannelHandler<Output<S>>, options?: SubscribeOptions): Promise<Subscription>;
  pull(name: string, options?: ConsumeOptions): AsyncIterableIterator<ReceivedMessage<Output<S>>>;
  pull(
    name: string,
    handlerOrOptions?: ChannelHandler<Output<S>> | ConsumeOptions,
    options: SubscribeOptions = {},
  ): Promise<Subscription> | AsyncIterableIterator<ReceivedMessage<Output<S>>> {
    if (typeof handlerOrOptions === 'function') {
      const handler = handlerOrOptions;
      return this.adapter().then((adapter) =>
        adapter.subscribe(
          this.topic(name),
          async (message) => handler(await this.validate(name, message)),
          this.withInvalidHook(options),
        ),
      );
    }
    return this.iterate(name, handlerOrOptions ?? {});
  }

  private async *iterate(name: string, options: ConsumeOptions): AsyncIterableIterator<ReceivedMessage<Output<S>>> {
    const adapter = await this.adapter();
    // Validation runs inside the subscription's handler, so a schema failure takes the same
    // onInvalid path (with the raw body) as it does for pull(name, handler).
    const stream = messageStream<Output<S>>(
      (handler, subscribeOptions) =>
        adapter.subscribe(
          this.topic(name),
          async (message) => handler(await this.validate(name, message)),
          subscribeOptions,
        ),
      this.withInvalidHook(options),
    );
    for await (const event of stream) {
      // Leaving the loop (break/throw) never reaches the ack: the event is released for redelivery.
      yield event;
      await event.ack();
    }
  }

  private async validate(name: string, message: ReceivedMessage): Promise<ReceivedMessage<Output<S>>> {
    const { schema } = this.options;
    if (schema instanceof VersionedEvent) {
      return Object.assign(message, { data: schema.decode(message.data, message.headers, this.options.version) });
    }
    const result = await schema['~standard'].validate(message.data);
    if (result.issues) {
      throw new InvalidMessageError(
        `event "${name}" (id ${message.id}) does not match the channel schema: ${formatIssues(result.issues)}`,
      );
    }
    return Object.assign(message, { data: result.value }) as ReceivedMessage<Output<S>>;
  }

  private withInvalidHook<O extends SubscribeOptions>(options: O): O {
    return options.onInvalid || !this.options.onInvalid ? options : { ...options, onInvalid: this.options.onInvalid };
  }
}
