import {
  type ErrorCode,
  type EventMessage,
  EventportError,
  ForwardingAdapter,
  type PublishInput,
} from '@eventport/core';

/**
 * Counts the calls that reach it and fails publish/connect with `failWith` while that is set (for
 * the next `failuresLeft` calls only, when that is set too).
 */
/** A decorator for tests of other decorators: inject broker failures on demand. */
export class FaultyAdapter extends ForwardingAdapter {
  failWith: ErrorCode | undefined;
  failuresLeft: number | undefined;
  publishCalls = 0;
  connectCalls = 0;

  override async connect(): Promise<void> {
    this.connectCalls++;
    this.throwIfFailing('connect');
    return super.connect();
  }

  override async publish<T>(message: PublishInput<T>): Promise<EventMessage<T>> {
    this.publishCalls++;
    this.throwIfFailing('publish');
    return super.publish(message);
  }

  override async publishBatch<T>(messages: readonly PublishInput<T>[]): Promise<EventMessage<T>[]> {
    this.publishCalls++;
    this.throwIfFailing('publishBatch');
    return super.publishBatch(messages);
  }

  private throwIfFailing(operation: string): void {
    if (!this.failWith || this.failuresLeft === 0) return;
    if (this.failuresLeft !== undefined) this.failuresLeft--;
    throw new EventportError(this.failWith, `injected ${this.failWith} failure in ${operation}`);
  }
}
