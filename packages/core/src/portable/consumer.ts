import { setMaxListeners } from 'node:events';
import type {
  ConsumerLag,
  InvalidDelivery,
  MessageHandler,
  Settlement,
  SubscribeOptions,
  Subscription,
  SubscriptionHealth,
} from '../adapter.js';
import { runInMessageContext } from '../context.js';
import { ABORT_GRACE_MS, type Deadlines, withDeadline } from '../deadline.js';
import type { Driver, ErrorClassification, IncomingRecord, Receiver } from '../driver.js';
import { describeError, EventportError, InvalidMessageError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ReceivedMessage } from '../message.js';
import { backoffDelay, pause, retryWithin } from '../timing.js';
import { Semaphore } from './semaphore.js';

export type ResolvedSubscribeOptions = Required<Omit<SubscribeOptions, 'onInvalid' | 'onSettled'>> &
  Pick<SubscribeOptions, 'onInvalid' | 'onSettled'>;

export type DecodedMessage<T> = Omit<ReceivedMessage<T>, 'ack' | 'nack' | 'group'>;

export interface ConsumerContext {
  driver: Driver;
  deadlines: Deadlines;
  logger: Logger;
  /** Wraps a driver error once: classified, sanitised, with what was being done. */
  wrap(error: unknown, context: string): EventportError;
  /** The adapter's classification: an EventportError's own code, else the driver's. */
  classify(error: unknown): ErrorClassification;
  decode<T>(record: IncomingRecord, attempt: number): DecodedMessage<T>;
  /** An ephemeral subscription's: counts it out of its group, deleting the group after the last one. */
  leaveGroup?: () => Promise<void>;
  /** Where the driver declares autoCreateTopics: makes the topic, true once it exists, else why not. */
  createMissingTopic?: (signal: AbortSignal) => Promise<true | unknown>;
}

/** A subscription holds at most this many unsettled records per allowed concurrent handler. */
export const UNSETTLED_PER_HANDLER = 2;
/** Local delivery counts kept for brokers that keep none; the oldest are forgotten beyond this. */
const MAX_COUNTED = 50_000;
const RECONNECT_INITIAL_MS = 100;
const RECONNECT_MAX_MS = 30_000;

/** One received record while core holds it. */
interface Held {
  record: IncomingRecord;
  member: Member;
  attempt: number;
  settled: boolean;
  /** Counted in `active` (running or waiting for a handler slot). */
  active: boolean;
  /** The head of its key: later records of the key wait until it lets go. */
  ownsKey: boolean;
}

/** A receiver and the records it handed out that are not settled yet. */
interface Member {
  receiver: Receiver;
  held: number;
  retired: boolean;
  batch: SettleBatch | undefined;
  settling: Promise<void> | undefined;
}

interface SettleBatch {
  acks: Held[];
  nacks: Held[];
  done: Promise<void>;
}

/**
 * The consume loop every backend shares, written once. It pulls at most as many records as there is
 * room for (`concurrency` handlers, `concurrency × 2` unsettled records), runs handlers with per-key
 * serial order, acks only after a handler resolved, batches settles per event-loop turn, waits out
 * redelivery delays itself, keeps a key blocked across retries where the backend orders by key,
 * routes undecodable records without letting them hold a slot or a key, counts attempts where the
 * broker does not, reopens the receiver with backoff when it fails, and drains on close.
 */
export class Consumer<T> implements Subscription {
  private readonly slots: Semaphore;
  private readonly keyQueues = new Map<string, Held[]>();
  private readonly running = new Set<Promise<void>>();
  /** Records whose handler is running now: what `extend` keeps alive on the broker. */
  private readonly handling = new Set<Held>();
  private extendTimer: NodeJS.Timeout | undefined;
  private readonly members = new Set<Member>();
  private readonly localCounts = new Map<string, number>();
  private readonly stopController = new AbortController();
  private readonly maxUnsettled: number;
  private current: Member | undefined;
  private unsettled = 0;
  /** Records admitted and neither waiting for their key nor parked: what the handler slots are for. */
  private active = 0;
  private wakeLoop: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private health: SubscriptionHealth['state'] = 'running';
  private lastError: string | undefined;

  constructor(
    readonly topic: string,
    private readonly handler: MessageHandler<T>,
    private readonly options: ResolvedSubscribeOptions,
    private readonly context: ConsumerContext,
    private readonly onClosed: () => void,
  ) {
    this.slots = new Semaphore(options.concurrency);
    // Every record waiting out a redelivery delay listens for the stop.
    setMaxListeners(0, this.stopController.signal);
    this.maxUnsettled = options.concurrency * UNSETTLED_PER_HANDLER;
  }

  get group(): string {
    return this.options.group;
  }

  get inFlight(): number {
    return this.slots.taken;
  }

  get state(): SubscriptionHealth {
    return {
      topic: this.topic,
      group: this.options.group,
      state: this.health,
      inFlight: this.slots.taken,
      unsettled: this.unsettled,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }

  async lag(): Promise<ConsumerLag | undefined> {
    const receiver = this.current?.receiver;
    if (receiver?.lag === undefined || this.stopping) return undefined;
    const lag = receiver.lag.bind(receiver);
    return withDeadline(
      this.context.deadlines.healthMs,
      `reading the lag of "${this.options.group}" on "${this.topic}"`,
      lag,
      this.stopController.signal,
    );
  }

  /** Opens the first receiver: resolves once the group's position exists on the broker. */
  async start(): Promise<void> {
    const { deadlines, classify } = this.context;
    this.current = await retryWithin(
      deadlines.adminMs,
      (error) => classify(error).retryable,
      (remainingMs) => this.openMember(remainingMs),
      this.stopController.signal,
    );
    this.loop = this.receiveLoop();
    const every = this.current.receiver.extendEveryMs;
    if (this.current.receiver.extend && every) {
      this.extendTimer = setInterval(() => this.extendRunning(), every);
      this.extendTimer.unref();
    }
  }

  /** Long handlers keep their records: the broker is told they are still being worked on. */
  private extendRunning(): void {
    const byMember = new Map<Member, IncomingRecord[]>();
    for (const held of this.handling) {
      if (held.settled || held.member.retired) continue;
      byMember.set(held.member, [...(byMember.get(held.member) ?? []), held.record]);
    }
    const { deadlines, driver } = this.context;
    for (const [member, records] of byMember) {
      const extend = member.receiver.extend as NonNullable<Receiver['extend']>;
      void withDeadline(
        deadlines.settleMs,
        `extending ${records.length} record(s) of "${this.topic}" (${driver.backend})`,
        (signal) => extend.call(member.receiver, records, signal),
      ).catch((error: unknown) =>
        this.options.onError(this.context.wrap(error, `extending records of "${this.topic}" failed`)),
      );
    }
  }

  close(): Promise<void> {
    this.closing ??= this.drainAndClose();
    return this.closing;
  }

  private get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  private async openMember(deadlineMs = this.context.deadlines.adminMs): Promise<Member> {
    const { driver, createMissingTopic, classify } = this.context;
    const { group, fromBeginning, ephemeral } = this.options;
    const options = { group, fromBeginning, maxUnsettled: this.maxUnsettled, ephemeral };
    const receiver = await withDeadline(
      deadlineMs,
      `subscribing to "${this.topic}" (${driver.backend})`,
      async (signal) => {
        try {
          return await driver.openReceiver(this.topic, options, signal);
        } catch (error) {
          if (!createMissingTopic || classify(error).code !== 'NOT_FOUND') throw error;
          const created = await createMissingTopic(signal);
          if (created !== true) throw created;
          return driver.openReceiver(this.topic, options, signal);
        }
      },
      this.stopController.signal,
    );
    const member: Member = { receiver, held: 0, retired: false, batch: undefined, settling: undefined };
    this.members.add(member);
    return member;
  }

  private async receiveLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const room = Math.min(this.options.concurrency - this.active, this.maxUnsettled - this.unsettled);
      if (room <= 0) {
        await this.roomOrStop();
        continue;
      }
      try {
        this.current ??= await this.openMember();
        const member = this.current;
        const records = await this.receiveFrom(member, room);
        if (failures > 0) this.reportRecovered();
        failures = 0;
        for (const record of records) this.admit(record, member);
      } catch (error) {
        if (this.stopping) break;
        failures += 1;
        this.reportFailure(error);
        this.retire(this.current);
        this.current = undefined;
        await pause(backoffDelay(failures, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS), this.stopController.signal);
      }
    }
  }

  /** One receive: asked to return after receiveWaitMs, abandoned (and the receiver replaced) if it does not. */
  private receiveFrom(member: Member, max: number): Promise<IncomingRecord[]> {
    const { deadlines, driver } = this.context;
    const wait = new AbortController();
    const stop = () => wait.abort();
    this.stopController.signal.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(stop, deadlines.receiveWaitMs);
    return withDeadline(
      deadlines.receiveWaitMs + ABORT_GRACE_MS,
      `receiving from "${this.topic}" (${driver.backend})`,
      () => member.receiver.receive(max, wait.signal),
    ).finally(() => {
      clearTimeout(timer);
      this.stopController.signal.removeEventListener('abort', stop);
    });
  }

  private roomOrStop(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeLoop = resolve;
      if (this.stopping) resolve();
    });
  }

  private wake(): void {
    const wake = this.wakeLoop;
    this.wakeLoop = undefined;
    wake?.();
  }

  private admit(record: IncomingRecord, member: Member): void {
    member.held += 1;
    this.unsettled += 1;
    const held: Held = {
      record,
      member,
      attempt: this.attemptOf(record),
      settled: false,
      active: false,
      ownsKey: false,
    };
    if (this.stopping) {
      this.giveBack(held);
      return;
    }
    const { key } = record;
    if (key !== undefined) {
      const queue = this.keyQueues.get(key);
      if (queue) {
        queue.push(held);
        return;
      }
      this.keyQueues.set(key, []);
      held.ownsKey = true;
    }
    this.run(held);
  }

  private attemptOf(record: IncomingRecord): number {
    if (record.deliveryCount !== undefined) return record.deliveryCount;
    const attempt = (this.localCounts.get(record.id) ?? 0) + 1;
    this.localCounts.delete(record.id);
    this.localCounts.set(record.id, attempt);
    if (this.localCounts.size > MAX_COUNTED) {
      const oldest = this.localCounts.keys().next().value;
      if (oldest !== undefined) this.localCounts.delete(oldest);
    }
    return attempt;
  }

  private run(held: Held): void {
    held.active = true;
    this.active += 1;
    // The handler holds a slot; waiting out a redelivery delay afterwards does not.
    const task = this.slots.run(() => this.handle(held)).then((outcome) => outcome.decided);
    this.running.add(task);
    void task.finally(() => this.running.delete(task));
  }

  /** Never rejects: every path ends in one settle of the record, or a retry of it. */
  private async handle(held: Held): Promise<{ decided: Promise<void> }> {
    if (this.stopping) {
      this.leave(held);
      return { decided: this.giveBack(held) };
    }
    const { record } = held;
    let decided: Promise<void> | undefined;
    let decoded: DecodedMessage<T>;
    try {
      decoded = this.context.decode<T>(record, held.attempt);
    } catch (error) {
      return { decided: this.routeInvalid(error, held) };
    }
    // The decoded object becomes the message: no copy per delivery on the hot path.
    const message = decoded as ReceivedMessage<T>;
    message.group = this.options.group;
    message.ack = () => {
      decided ??= this.succeed(held);
      return decided;
    };
    message.nack = (options) => {
      decided ??= this.fail(held, options?.delayMs ?? this.options.redeliveryDelayMs(held.attempt));
      return decided;
    };
    this.handling.add(held);
    try {
      await runInMessageContext(message, () => this.handler(message));
      this.handling.delete(held);
      decided ??= this.succeed(held);
    } catch (error) {
      this.handling.delete(held);
      if (decided) return { decided };
      if (error instanceof InvalidMessageError) return { decided: this.routeInvalid(error, held) };
      this.context.logger.debug('handler failed; message will be redelivered', {
        topic: this.topic,
        id: message.id,
        attempt: held.attempt,
        error: describeError(error),
      });
      decided = this.fail(held, this.options.redeliveryDelayMs(held.attempt));
    }
    return { decided };
  }

  private async succeed(held: Held, outcome: Settlement['outcome'] = 'ack', error?: unknown): Promise<void> {
    this.leave(held);
    this.localCounts.delete(held.record.id);
    this.observe(held, outcome, error);
    await this.settle(held, 'ack');
  }

  private observe(held: Held, outcome: Settlement['outcome'], error?: unknown): void {
    const observer = this.options.onSettled;
    if (!observer) return;
    try {
      observer({
        topic: this.topic,
        group: this.options.group,
        recordId: held.record.id,
        attempt: held.attempt,
        outcome,
        ...(error === undefined ? {} : { error }),
      });
    } catch (observerError) {
      this.options.onError(observerError);
    }
  }

  /**
   * A failed keyed record is retried in place after the delay, so its key stays blocked and nothing
   * of that key overtakes it in this subscriber (across subscribers too where the backend orders by
   * key). A record without a key waits out the delay and goes back to the broker. Either way it holds
   * no handler slot while it waits.
   */
  private async fail(held: Held, delayMs: number): Promise<void> {
    const retryInPlace = held.ownsKey;
    this.observe(held, 'nack');
    this.releaseSlot(held);
    if (!retryInPlace) {
      this.releaseKey(held);
      await this.backOff(held, delayMs);
      return;
    }
    const waited = await pause(delayMs, this.stopController.signal);
    if (waited && !this.stopping && !held.member.retired) {
      held.attempt += 1;
      this.run(held);
      return;
    }
    this.releaseKey(held);
    await this.giveBack(held);
  }

  /** A record that can never be handled: to onInvalid (acked when it resolves), else backed off without holding its key. */
  private async routeInvalid(error: unknown, held: Held): Promise<void> {
    const { record } = held;
    const invalid =
      error instanceof InvalidMessageError
        ? error
        : new InvalidMessageError(`cannot decode message: ${describeError(error)}`, { cause: error });
    const hook = this.options.onInvalid;
    if (hook) {
      const delivery: InvalidDelivery = {
        topic: this.topic,
        group: this.options.group,
        key: record.key,
        headers: record.headers,
        body: record.body,
        attempt: held.attempt,
      };
      try {
        await hook(invalid, delivery);
        await this.succeed(held, 'invalid', invalid);
        return;
      } catch (hookError) {
        this.options.onError(hookError);
      }
    } else {
      this.context.logger.error(
        'invalid message left with the broker; pass onInvalid or use @eventport/dlq to divert it',
        { topic: this.topic, group: this.options.group, id: record.id, attempt: held.attempt, error: invalid.message },
      );
      this.options.onError(invalid);
    }
    // Poison must not stall what comes after it: its key is released now, and it backs off on its own.
    this.observe(held, 'invalid', invalid);
    this.leave(held);
    await this.backOff(held, this.options.redeliveryDelayMs(held.attempt));
  }

  /** Gives a record back to the broker no sooner than `delayMs`: deferred by the broker where it can, else waited out here. */
  private async backOff(held: Held, delayMs: number): Promise<void> {
    const { receiver } = held.member;
    if (receiver.defer && delayMs > 0 && !this.stopping && !held.settled) {
      held.settled = true;
      const { deadlines, driver } = this.context;
      try {
        await withDeadline(deadlines.settleMs, `deferring a record of "${this.topic}" (${driver.backend})`, (signal) =>
          (receiver.defer as NonNullable<Receiver['defer']>)([held.record], delayMs, signal),
        );
      } catch (error) {
        this.options.onError(this.context.wrap(error, `deferring a record of "${this.topic}" failed`));
      } finally {
        this.forget(held.member, 1);
      }
      return;
    }
    await pause(delayMs, this.stopController.signal);
    await this.giveBack(held);
  }

  /**
   * Nacks the record, except while closing: then it is left to the receiver's close(), which returns
   * it to the broker. A nack now could have the broker push it straight back to the closing member.
   */
  private giveBack(held: Held): Promise<void> {
    if (!this.stopping) return this.settle(held, 'nack');
    if (!held.settled) {
      held.settled = true;
      this.forget(held.member, 1);
    }
    return Promise.resolve();
  }

  /** The record is done with its slot and its key. */
  private leave(held: Held): void {
    this.releaseSlot(held);
    this.releaseKey(held);
  }

  private releaseSlot(held: Held): void {
    if (!held.active) return;
    held.active = false;
    this.active -= 1;
    this.wake();
  }

  private releaseKey(held: Held): void {
    const { key } = held.record;
    if (!held.ownsKey || key === undefined) return;
    held.ownsKey = false;
    const next = this.keyQueues.get(key)?.shift();
    if (next) {
      next.ownsKey = true;
      this.run(next);
    } else {
      this.keyQueues.delete(key);
    }
  }

  private settle(held: Held, outcome: 'ack' | 'nack'): Promise<void> {
    if (held.settled) return Promise.resolve();
    held.settled = true;
    const { member } = held;
    let batch = member.batch;
    if (!batch) {
      const created: SettleBatch = { acks: [], nacks: [], done: Promise.resolve() };
      created.done = this.flushSoon(member, created);
      member.batch = created;
      batch = created;
    }
    (outcome === 'ack' ? batch.acks : batch.nacks).push(held);
    return batch.done;
  }

  /** One settle call per member and event-loop turn (and never two at once), so acks reach the broker in batches. */
  private async flushSoon(member: Member, batch: SettleBatch): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (member.settling) await member.settling;
    if (member.batch === batch) member.batch = undefined;
    const settling = this.flush(member, batch);
    member.settling = settling;
    await settling;
    if (member.settling === settling) member.settling = undefined;
  }

  private async flush(member: Member, batch: SettleBatch): Promise<void> {
    const { deadlines, driver } = this.context;
    const count = batch.acks.length + batch.nacks.length;
    try {
      await withDeadline(
        deadlines.settleMs,
        `settling ${count} record(s) of "${this.topic}" (${driver.backend})`,
        (signal) =>
          member.receiver.settle(
            batch.acks.map((held) => held.record),
            batch.nacks.map((held) => held.record),
            signal,
          ),
      );
    } catch (error) {
      // Unsettled records are not lost: the broker delivers them again.
      this.options.onError(this.context.wrap(error, `settling ${count} record(s) of "${this.topic}" failed`));
    } finally {
      this.forget(member, count);
    }
  }

  /** `count` records of `member` are settled (or given back): room for more, and a retired member may close. */
  private forget(member: Member, count: number): void {
    member.held -= count;
    this.unsettled -= count;
    this.wake();
    if (member.retired && member.held === 0) void this.closeMember(member);
  }

  /** A failed receiver gets no new work; it is closed once its records are settled (now, if it holds none). */
  private retire(member: Member | undefined): void {
    if (!member || member.retired) return;
    member.retired = true;
    if (member.held === 0) void this.closeMember(member);
  }

  private async closeMember(member: Member): Promise<void> {
    if (!this.members.delete(member)) return;
    const { deadlines, driver } = this.context;
    await withDeadline(deadlines.closeMs, `closing a receiver of "${this.topic}" (${driver.backend})`, () =>
      member.receiver.close(),
    ).catch((error: unknown) =>
      this.options.onError(this.context.wrap(error, `closing a receiver of "${this.topic}"`)),
    );
  }

  private reportFailure(error: unknown): void {
    const wrapped = this.context.wrap(error, `receiving from "${this.topic}" failed; reconnecting`);
    this.health = 'reconnecting';
    this.lastError = wrapped.message;
    this.options.onError(wrapped);
  }

  private reportRecovered(): void {
    this.health = 'running';
    this.context.logger.info('subscription recovered', { topic: this.topic, group: this.options.group });
  }

  private async drainAndClose(): Promise<void> {
    this.stopController.abort(new EventportError('CLOSED', `the subscription to "${this.topic}" was closed`));
    clearInterval(this.extendTimer);
    this.wake();
    try {
      await this.loop;
      // Records that never reached a handler go back at once; those waiting out a delay were woken by the abort.
      for (const queue of this.keyQueues.values()) {
        for (const held of queue.splice(0)) void this.giveBack(held);
      }
      const drained = await settlesWithin([...this.running], this.options.drainTimeoutMs);
      if (!drained) {
        this.context.logger.warn('close() timed out waiting for handlers; their messages will be redelivered', {
          topic: this.topic,
          group: this.options.group,
          inFlight: this.inFlight,
        });
      }
      await Promise.all(
        [...this.members].map(async (member) => {
          await member.batch?.done;
          while (member.settling) await member.settling;
        }),
      );
      await Promise.all([...this.members].map((member) => this.closeMember(member)));
      await this.context
        .leaveGroup?.()
        .catch((error: unknown) =>
          this.options.onError(this.context.wrap(error, `deleting the group of "${this.topic}"`)),
        );
    } finally {
      this.health = 'closed';
      this.onClosed();
    }
  }
}

async function settlesWithin(tasks: Promise<unknown>[], timeoutMs: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      Promise.allSettled(tasks).then(() => true),
      pause(timeoutMs, timer.signal).then(() => false),
    ]);
  } finally {
    timer.abort();
  }
}
