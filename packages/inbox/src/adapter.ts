import {
  type ConsumeOptions,
  type EventAdapter,
  type EventMessage,
  EventportError,
  ForwardingAdapter,
  findDecorator,
  type MessageStream,
  type PublishInput,
  type SubscribeOptions,
  type Subscription,
} from '@eventport/core';
import { currentInboxMessage, Inbox, type InboxHandler, type InboxOptions } from './inbox.js';

/** @eventport/dlq's REPLAY_GROUP and its dead letters' reason header (dlq is not a dependency of the inbox). */
const DLQ_REPLAY_GROUP = 'eventport-dlq-replay';
const DLQ_REASON_HEADER = 'dlq-reason';

const WRONG_ORDER =
  'withDeadLetters is stacked above withInbox: its retries would all run inside one inbox transaction ' +
  '(a failed attempt would commit its writes with the next one) and a dead-lettered message would be ' +
  'recorded as handled (so its replay would be dropped). Stack it below: ' +
  'withInbox(withDeadLetters(adapter), ...), or keep your order and wrap the handler with inbox.handler(...), ' +
  'which works under any decorator';

export type WithInboxOptions<Tx> = InboxOptions<Tx> | { inbox: Inbox<Tx> };

/**
 * Every subscription's handler runs through `inbox.handler()`: duplicates are acked without running
 * it, and the handler receives the store's transaction handle as its second argument (or through
 * `inboxTransaction()` when decorators above call it with the message only).
 *
 * Order: withInbox must be above withDeadLetters (`withInbox(withDeadLetters(adapter))`) so each
 * retry is its own transaction and a dead letter is never recorded; the wrong order is refused on
 * subscribe with an error saying so. withMetrics may be above or below. Applying withInbox twice is
 * refused (two records, one of them waiting on the other's lock).
 */
export function withInbox<Tx>(adapter: EventAdapter, options: WithInboxOptions<Tx>): InboxAdapter<Tx> {
  if (findDecorator(adapter, InboxAdapter)) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      'the adapter already has an inbox (withInbox applied twice); use one inbox per handler',
    );
  }
  const inbox =
    'inbox' in options && options.inbox instanceof Inbox ? options.inbox : new Inbox(options as InboxOptions<Tx>);
  return new InboxAdapter(adapter, inbox);
}

export class InboxAdapter<Tx = unknown> extends ForwardingAdapter {
  private readonly deadLettersBelow: boolean;

  constructor(
    inner: EventAdapter,
    readonly inbox: Inbox<Tx>,
  ) {
    super(inner);
    this.deadLettersBelow = hasDeadLettersBelow(inner);
  }

  override subscribe<T = unknown>(
    topic: string,
    handler: InboxHandler<T, Tx>,
    options?: SubscribeOptions,
  ): Promise<Subscription> {
    if (options?.group === DLQ_REPLAY_GROUP) {
      // The dead-letter reader (listDeadLetters, replay) sees every letter: it is not deduplicated.
      if (this.deadLettersBelow) return this.inner.subscribe(topic, handler as never, options);
      // withDeadLetters above us prepares its replay group through us before its first subscribe.
      return Promise.reject(
        new EventportError(
          'INVALID_ARGUMENT',
          `${WRONG_ORDER}. (To read dead letters, pass listDeadLetters/replay the adapter under withInbox.)`,
        ),
      );
    }
    return this.inner.subscribe(topic, this.inbox.handler(handler), options);
  }

  /**
   * Only the dead-letter reader may consume (listDeadLetters and replay on an adapter whose
   * withDeadLetters is below): a stream's messages are handled in the caller's loop, outside any
   * transaction the inbox could open.
   */
  override consume<T = unknown>(topic: string, options: ConsumeOptions = {}): MessageStream<T> {
    if (options.group === DLQ_REPLAY_GROUP && this.deadLettersBelow) return this.inner.consume<T>(topic, options);
    throw new EventportError(
      'UNSUPPORTED',
      `consume("${topic}") through withInbox: the inbox needs to run the handler inside its transaction; use subscribe()`,
    );
  }

  override publish<T>(message: PublishInput<T>): Promise<EventMessage<T>> {
    const refused = this.deadLetterOfCurrentMessage([message]);
    return refused ? Promise.reject(refused) : this.inner.publish(message);
  }

  override publishBatch<T>(messages: readonly PublishInput<T>[]): Promise<EventMessage<T>[]> {
    const refused = this.deadLetterOfCurrentMessage(messages);
    return refused ? Promise.reject(refused) : this.inner.publishBatch(messages);
  }

  /**
   * Backstop for the wrong order: a dead letter of the very message this inbox is handling can only
   * come from withDeadLetters above it. Failing it keeps the message on its topic, unrecorded.
   */
  private deadLetterOfCurrentMessage(messages: readonly PublishInput<unknown>[]): EventportError | undefined {
    const current = currentInboxMessage();
    if (!current) return undefined;
    const letter = messages.some(
      (message) => message?.id === current.id && message.headers?.[DLQ_REASON_HEADER] !== undefined,
    );
    return letter ? new EventportError('INVALID_ARGUMENT', WRONG_ORDER) : undefined;
  }
}

/** Whether @eventport/dlq's DeadLetterAdapter is in the chain under `adapter` (found by shape: dlq is no dependency). */
function hasDeadLettersBelow(adapter: EventAdapter): boolean {
  for (let current: EventAdapter | undefined = adapter; current; ) {
    if (
      current.constructor?.name === 'DeadLetterAdapter' ||
      typeof (current as { deadLetterTopic?: unknown }).deadLetterTopic === 'function'
    ) {
      return true;
    }
    current = current instanceof ForwardingAdapter ? current.decorated : undefined;
  }
  return false;
}
