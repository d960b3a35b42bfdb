import { EventportError, type OutgoingRecord, RESERVED_HEADERS } from '@eventport/core';
import type { ConfirmChannel, Options } from 'amqplib';
import type { ReconnectingConnection } from './connection.js';
import type { ResolvedRabbitMqOptions } from './options.js';
import { within } from './timing.js';
import { declareExchange, SHORT_STRING_BYTES } from './topology.js';

interface Publication {
  routingKey: string;
  body: Buffer;
  properties: Options.Publish;
}

/** A confirm channel and what was declared on it; replaced as a whole when it closes. */
interface PublishChannel {
  channel: ConfirmChannel;
  declaredExchanges: Set<string>;
  open: boolean;
  /** Set when the broker closed the channel with an error (e.g. 403, 404). */
  closedBy?: unknown;
  /** Pending while the socket buffer is full: resolves on 'drain' (or when the channel closes). */
  writable?: Promise<void>;
}

/**
 * Publishes with publisher confirms: send() resolves only when the broker confirmed every message
 * (persisted to a durable queue, or routed nowhere). A lost channel fails the unconfirmed messages
 * with a retryable error; a confirm that never comes fails after operationTimeoutMs. Nothing hangs.
 */
export class Publisher {
  private current: Promise<PublishChannel> | undefined;

  constructor(
    private readonly connection: ReconnectingConnection,
    private readonly options: ResolvedRabbitMqOptions,
  ) {}

  async send(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    const publications = records.map(toPublication);
    const state = await this.channel();
    if (!state.declaredExchanges.has(topic)) {
      await within(declareExchange(state.channel, topic), this.options.operationTimeoutMs, () =>
        this.timeout(`declaring exchange "${topic}"`),
      );
      state.declaredExchanges.add(topic);
    }
    const deadline = Date.now() + this.options.operationTimeoutMs;
    const confirmations: Promise<void>[] = [];
    for (const { routingKey, body, properties } of publications) {
      if (!state.open) break;
      let writable = true;
      const confirmed = new Promise<void>((resolve, reject) => {
        // publish throws at once on a closed channel; the confirm callback reports broker nacks and channel loss.
        writable = state.channel.publish(topic, routingKey, body, properties, (error: unknown) =>
          error ? reject(this.explain(error, state, topic)) : resolve(),
        );
      });
      // Observed here so a rejection while later messages are still being written is not "unhandled".
      confirmed.catch(() => undefined);
      confirmations.push(confirmed);
      if (!writable) {
        await within(untilWritable(state), remaining(deadline), () =>
          this.timeout(`waiting for the socket to drain on "${topic}"`),
        );
      }
    }
    if (confirmations.length < publications.length) {
      throw this.explain(new Error('channel closed'), state, topic);
    }
    await within(Promise.all(confirmations), remaining(deadline), () =>
      this.timeout(`waiting for confirms of ${publications.length} message(s) on "${topic}"`),
    );
  }

  /** A round trip on the publishing channel: `amq.topic` exists in every vhost. */
  async ping(): Promise<void> {
    if (this.connection.isReconnecting) {
      throw new EventportError('CONNECTION', 'RabbitMQ publisher connection is down; reconnecting');
    }
    const { channel } = await this.channel();
    await within(channel.checkExchange('amq.topic'), this.options.operationTimeoutMs, () => this.timeout('ping'));
  }

  async close(): Promise<void> {
    const state = await this.current?.catch(() => undefined);
    this.current = undefined;
    if (state?.open) {
      await within(state.channel.close(), this.options.operationTimeoutMs, () => this.timeout('closing')).catch(
        () => undefined,
      );
    }
  }

  private channel(): Promise<PublishChannel> {
    if (!this.current) {
      const opening = this.openChannel(() => {
        if (this.current === opening) this.current = undefined;
      });
      this.current = opening;
      opening.catch(() => {
        if (this.current === opening) this.current = undefined;
      });
    }
    return this.current;
  }

  private async openChannel(onClosed: () => void): Promise<PublishChannel> {
    const model = await this.connection.ready();
    const channel = await within(model.createConfirmChannel(), this.options.operationTimeoutMs, () =>
      this.timeout('opening a channel'),
    );
    const state: PublishChannel = { channel, declaredExchanges: new Set(), open: true };
    // The broker closes a channel on errors such as 403 or 404; 'close' follows, and the next send opens a new one.
    channel.on('error', (error: unknown) => {
      state.closedBy = error;
    });
    channel.once('close', () => {
      state.open = false;
      onClosed();
    });
    return state;
  }

  /**
   * Turns amqplib's generic "channel closed" into the reason the broker gave. Sends to several topics
   * share the channel, so a broker error naming another topic's exchange fails this send only as a
   * retryable channel loss: the retry runs on a fresh channel.
   */
  private explain(error: unknown, state: PublishChannel, topic: string): unknown {
    const message = (value: unknown) => String((value as { message?: unknown } | undefined)?.message ?? '');
    if (/^message nacked/.test(message(error))) {
      return new EventportError('RESOURCE_EXHAUSTED', `RabbitMQ refused (nacked) a message on "${topic}"`, {
        cause: error,
      });
    }
    const { closedBy } = state;
    if (closedBy === undefined) return error;
    if (!message(closedBy).includes(`'${topic}'`)) {
      return new EventportError(
        'CONNECTION',
        `the publishing channel was closed by the broker while sending to "${topic}"`,
        {
          cause: closedBy,
        },
      );
    }
    if ((closedBy as { code?: unknown }).code === 404) {
      // We declared the exchange on this channel, so someone deleted it since: a retry declares it again.
      return new EventportError('NOT_FOUND', `exchange "${topic}" was deleted while publishing`, {
        cause: closedBy,
        retryable: true,
      });
    }
    return closedBy;
  }

  private timeout(what: string): EventportError {
    const blocked = this.connection.blocked;
    return blocked
      ? new EventportError('RESOURCE_EXHAUSTED', `RabbitMQ blocked publishing (${blocked}) while ${what}`)
      : new EventportError(
          'TIMEOUT',
          `RabbitMQ did not answer within ${this.options.operationTimeoutMs} ms while ${what}`,
        );
  }
}

function toPublication(record: OutgoingRecord): Publication {
  const routingKey = record.key ?? '';
  if (Buffer.byteLength(routingKey) > SHORT_STRING_BYTES) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `RabbitMQ carries the key as the routing key, which holds at most ${SHORT_STRING_BYTES} bytes (got ${Buffer.byteLength(routingKey)})`,
    );
  }
  for (const name of Object.keys(record.headers)) {
    if (Buffer.byteLength(name) > SHORT_STRING_BYTES) {
      throw new EventportError(
        'INVALID_ARGUMENT',
        `RabbitMQ header names hold at most ${SHORT_STRING_BYTES} bytes (got one of ${Buffer.byteLength(name)})`,
      );
    }
  }
  const properties: Options.Publish = { persistent: true, headers: { ...record.headers } };
  // The reserved headers stay authoritative; the AMQP properties repeat them for tools that read only those.
  const id = record.headers[RESERVED_HEADERS.id];
  if (id !== undefined && Buffer.byteLength(id) <= SHORT_STRING_BYTES) properties.messageId = id;
  const contentType = record.headers[RESERVED_HEADERS.contentType];
  if (contentType !== undefined && Buffer.byteLength(contentType) <= SHORT_STRING_BYTES) {
    properties.contentType = contentType;
  }
  const time = Date.parse(record.headers[RESERVED_HEADERS.time] ?? '');
  if (!Number.isNaN(time)) properties.timestamp = Math.floor(time / 1000);
  return { routingKey, body: record.body, properties };
}

/** One wait per channel, shared by every concurrent send, so listeners do not pile up on the channel. */
function untilWritable(state: PublishChannel): Promise<void> {
  state.writable ??= new Promise((resolve) => {
    const { channel } = state;
    const done = () => {
      channel.off('drain', done);
      channel.off('close', done);
      state.writable = undefined;
      resolve();
    };
    channel.on('drain', done);
    channel.on('close', done);
  });
  return state.writable;
}

function remaining(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}
