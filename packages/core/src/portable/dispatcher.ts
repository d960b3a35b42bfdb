import type { InvalidDelivery, MessageHandler, SubscribeOptions, Subscription } from '../adapter.js';
import { runInMessageContext } from '../context.js';
import type { DriverSubscription, IncomingRecord } from '../driver.js';
import { describeError, EventportError, InvalidMessageError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ReceivedMessage } from '../message.js';
import { Semaphore } from './semaphore.js';

export type ResolvedSubscribeOptions = Required<Omit<SubscribeOptions, 'onInvalid'>> &
  Pick<SubscribeOptions, 'onInvalid'>;

export const defaultRedeliveryDelayMs = (attempt: number): number => Math.min(100 * 2 ** (attempt - 1), 10_000);

export function resolveSubscribeOptions(options: SubscribeOptions, logger: Logger): ResolvedSubscribeOptions {
  const concurrency = options.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new EventportError('INVALID_ARGUMENT', `concurrency must be a positive integer (got ${concurrency})`);
  }
  const group = options.group ?? 'default';
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(group)) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `group may contain only letters, digits, ".", "_" and "-" (got "${group}")`,
    );
  }
  return {
    group,
    concurrency,
    fromBeginning: options.fromBeginning ?? false,
    drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
    redeliveryDelayMs: options.redeliveryDelayMs ?? defaultRedeliveryDelayMs,
    onInvalid: options.onInvalid,
    onError: options.onError ?? ((error) => logger.warn('subscription error', { error: describeError(error) })),
  };
}

type Decode = (record: IncomingRecord) => Omit<ReceivedMessage, 'ack' | 'nack' | 'group'>;

/**
 * The portable consume path every backend shares: at most `concurrency` handlers at once, records
 * with the same key handled one after another in delivery order, ack only after the handler
 * resolves, nack (with a delay) when it throws, invalid deliveries to `onInvalid`, and a close() that
 * stops fetching and drains.
 */
export class Dispatcher<T> implements Subscription {
  private readonly accepted = new Set<Promise<void>>();
  private readonly keyTails = new Map<string, Promise<void>>();
  private readonly roomWaiters: Array<() => void> = [];
  private readonly handlerSlots: Semaphore;
  private driverSubscription: DriverSubscription | undefined;
  private stopping = false;
  private closing: Promise<void> | undefined;

  constructor(
    readonly topic: string,
    private readonly handler: MessageHandler<T>,
    private readonly options: ResolvedSubscribeOptions,
    private readonly decode: Decode,
    private readonly logger: Logger,
    private readonly onClosed: () => void,
  ) {
    this.handlerSlots = new Semaphore(options.concurrency);
  }

  get group(): string {
    return this.options.group;
  }

  get inFlight(): number {
    return this.handlerSlots.taken;
  }

  attach(driverSubscription: DriverSubscription): void {
    this.driverSubscription = driverSubscription;
  }

  /** Handed to the driver: accepts one record and resolves once there is room for the next. */
  readonly sink = async (record: IncomingRecord): Promise<void> => {
    if (this.stopping) {
      await this.release(record);
      return;
    }
    const task = this.schedule(record);
    this.accepted.add(task);
    void task.finally(() => {
      this.accepted.delete(task);
      this.roomWaiters.shift()?.();
    });
    while (this.accepted.size >= this.options.concurrency && !this.stopping) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  };

  close(): Promise<void> {
    this.closing ??= this.drainAndClose();
    return this.closing;
  }

  private schedule(record: IncomingRecord): Promise<void> {
    const { key } = record;
    const previous = key === undefined ? undefined : this.keyTails.get(key);
    const run = async () => {
      if (previous) await previous;
      await this.handlerSlots.run(() => (this.stopping ? this.release(record) : this.handle(record)));
    };
    const task = run();
    if (key !== undefined) {
      this.keyTails.set(key, task);
      void task.finally(() => {
        if (this.keyTails.get(key) === task) this.keyTails.delete(key);
      });
    }
    return task;
  }

  /** Never rejects: every outcome ends in exactly one ack or nack of the record. */
  private async handle(record: IncomingRecord): Promise<void> {
    let settled = false;
    const settle = async (outcome: 'ack' | 'nack', delayMs = 0) => {
      if (settled) return;
      settled = true;
      try {
        await (outcome === 'ack' ? record.ack() : record.nack(delayMs));
      } catch (error) {
        // The broker will redeliver an unacked record; report, do not throw into the handler path.
        this.options.onError(
          new EventportError('CONNECTION', `${outcome} failed on "${this.topic}"`, { cause: error }),
        );
      }
    };
    let message: ReceivedMessage<T>;
    try {
      message = {
        ...(this.decode(record) as Omit<ReceivedMessage<T>, 'ack' | 'nack' | 'group'>),
        group: this.options.group,
        ack: () => settle('ack'),
        nack: (options) => settle('nack', options?.delayMs ?? 0),
      };
    } catch (error) {
      await this.routeInvalid(error, record, settle);
      return;
    }
    try {
      await runInMessageContext(message, () => this.handler(message));
      await settle('ack');
    } catch (error) {
      if (error instanceof InvalidMessageError) {
        await this.routeInvalid(error, record, settle);
      } else {
        this.logger.debug('handler failed; message will be redelivered', {
          topic: this.topic,
          id: message.id,
          attempt: record.attempt,
          error: describeError(error),
        });
        await settle('nack', this.options.redeliveryDelayMs(record.attempt));
      }
    }
  }

  private async routeInvalid(
    error: unknown,
    record: IncomingRecord,
    settle: (outcome: 'ack' | 'nack', delayMs?: number) => Promise<void>,
  ): Promise<void> {
    const invalid =
      error instanceof InvalidMessageError
        ? error
        : new InvalidMessageError(`cannot decode message: ${describeError(error)}`, { cause: error });
    const delivery: InvalidDelivery = {
      topic: this.topic,
      group: this.options.group,
      key: record.key,
      headers: record.headers,
      body: record.body,
      attempt: record.attempt,
    };
    const hook = this.options.onInvalid;
    if (!hook) {
      this.logger.error('invalid message left with the broker; pass onInvalid or use @eventport/dlq to divert it', {
        topic: this.topic,
        group: this.options.group,
        id: record.headers['ce-id'],
        attempt: record.attempt,
        error: invalid.message,
      });
      await settle('nack', this.options.redeliveryDelayMs(record.attempt));
      return;
    }
    try {
      await hook(invalid, delivery);
      await settle('ack');
    } catch (hookError) {
      this.options.onError(hookError);
      await settle('nack', this.options.redeliveryDelayMs(record.attempt));
    }
  }

  /** Gives an unhandled record back to the broker (used while closing). */
  private async release(record: IncomingRecord): Promise<void> {
    try {
      await record.nack(0);
    } catch (error) {
      this.options.onError(error);
    }
  }

  private async drainAndClose(): Promise<void> {
    this.stopping = true;
    for (const wake of this.roomWaiters.splice(0)) wake();
    try {
      await this.driverSubscription?.stop();
      const drained = await settleWithin([...this.accepted], this.options.drainTimeoutMs);
      if (!drained) {
        this.logger.warn('close() timed out waiting for handlers; their messages will be redelivered', {
          topic: this.topic,
          group: this.options.group,
          inFlight: this.inFlight,
        });
      }
      await this.driverSubscription?.close();
    } finally {
      this.onClosed();
    }
  }
}

async function settleWithin(tasks: Promise<unknown>[], timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([Promise.allSettled(tasks).then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
