import type { ConsumeOptions, MessageStream, SubscribeOptions, Subscription } from '../adapter.js';
import type { ReceivedMessage } from '../message.js';

type Subscribe<T> = (
  handler: (message: ReceivedMessage<T>) => Promise<void>,
  options: SubscribeOptions,
) => Promise<Subscription>;

/**
 * consume() on top of subscribe(): each message's handler stays pending until the caller settles the
 * message, so `prefetch` bounds what is handed out and unacked, exactly like `concurrency` does for
 * handlers. Acks stay explicit.
 */
export function messageStream<T>(subscribe: Subscribe<T>, options: ConsumeOptions): MessageStream<T> {
  const buffered: ReceivedMessage<T>[] = [];
  const unsettled = new Set<ReceivedMessage<T>>();
  let wakeReader: (() => void) | undefined;
  let failure: unknown;
  let closed = false;
  let closing: Promise<void> | undefined;

  const { prefetch, ...subscribeOptions } = options;
  const subscription = subscribe(
    (message) =>
      new Promise<void>((handlerDone) => {
        const { ack, nack } = message;
        const settledBy =
          <A extends unknown[]>(settle: (...args: A) => Promise<void>) =>
          async (...args: A) => {
            unsettled.delete(message);
            try {
              await settle(...args);
            } finally {
              handlerDone();
            }
          };
        message.ack = settledBy(ack);
        message.nack = settledBy(nack);
        if (closed) {
          void message.nack();
          return;
        }
        unsettled.add(message);
        buffered.push(message);
        wakeReader?.();
      }),
    { ...subscribeOptions, concurrency: prefetch ?? 16 },
  );
  subscription.catch((error: unknown) => {
    failure = error;
    wakeReader?.();
  });

  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      wakeReader?.();
      const active = await subscription.catch(() => undefined);
      // Stop fetching first, then give back what was handed out but never settled, which the drain waits for.
      const closingSubscription = active?.close();
      buffered.length = 0;
      await Promise.all([...unsettled].map((message) => message.nack()));
      await closingSubscription;
    })();
    return closing;
  };

  async function* iterate(): AsyncGenerator<ReceivedMessage<T>> {
    try {
      await subscription;
      while (true) {
        if (failure) throw failure;
        const next = buffered.shift();
        if (next) {
          yield next;
          continue;
        }
        if (closed) return;
        await new Promise<void>((resolve) => {
          wakeReader = resolve;
        });
        wakeReader = undefined;
      }
    } finally {
      await close();
    }
  }

  return { [Symbol.asyncIterator]: iterate, close };
}
