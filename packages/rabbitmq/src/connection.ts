import { backoffDelay, EventportError } from '@eventport/core';
import { type ChannelModel, connect } from 'amqplib';
import type { ResolvedRabbitMqOptions } from './options.js';
import { Sleeper, within } from './timing.js';

export type ConnectionRole = 'publisher' | 'consumer';

interface Waiter {
  resolve(model: ChannelModel): void;
  reject(error: unknown): void;
}

/** Failed reconnection attempts are reported on the first one and then every this many. */
const REPORT_EVERY = 10;

/**
 * One AMQP connection that comes back by itself: amqplib has no reconnection, so when the broker
 * drops us (restart, network, `rabbitmqctl close_connection`) this dials again with backoff until
 * closed. Channels die with their connection; their owners re-create them through `ready()`.
 */
export class ReconnectingConnection {
  private model: ChannelModel | undefined;
  private dialing: Promise<ChannelModel> | undefined;
  private reconnecting: Promise<void> | undefined;
  private connectedOnce = false;
  private closed = false;
  private blockedReason: string | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly sleeper = new Sleeper();

  constructor(
    private readonly role: ConnectionRole,
    private readonly options: ResolvedRabbitMqOptions,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Lost after having been up, and not yet back: callers that must answer quickly (health) fail at once. */
  get isReconnecting(): boolean {
    return this.connectedOnce && this.model === undefined && !this.closed;
  }

  /** Why the broker stopped reading from this connection (memory or disk alarm), if it did. */
  get blocked(): string | undefined {
    return this.blockedReason;
  }

  /**
   * The live connection. Before the first success a call dials and fails fast, so a wrong URL,
   * password or vhost surfaces at connect(); after a loss it waits for the reconnection, at most
   * operationTimeoutMs, and then fails with a retryable CONNECTION error.
   */
  ready(): Promise<ChannelModel> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.model) return Promise.resolve(this.model);
    if (!this.connectedOnce) {
      this.dialing ??= this.dial().finally(() => {
        this.dialing = undefined;
      });
      return this.dialing;
    }
    return this.waitForReconnection();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sleeper.wakeAll();
    for (const waiter of this.waiters) waiter.reject(this.closedError());
    this.waiters.clear();
    await this.dialing?.catch(() => undefined);
    const model = this.model;
    this.model = undefined;
    if (model) {
      // A connection that is already gone cannot be closed politely; there is nothing left to release.
      await within(model.close(), this.options.operationTimeoutMs, () => this.closedError()).catch(() => undefined);
    }
    await this.reconnecting;
  }

  private async dial(): Promise<ChannelModel> {
    const { url, socketOptions, connectionName, operationTimeoutMs } = this.options;
    const model = await connect(url, {
      timeout: operationTimeoutMs,
      ...socketOptions,
      clientProperties: {
        ...(socketOptions.clientProperties as Record<string, unknown> | undefined),
        connection_name: `${connectionName} (${this.role})`,
      },
    });
    if (this.closed) {
      await model.close().catch(() => undefined);
      throw this.closedError();
    }
    // 'close' follows every 'error' and carries the same cause; an unheard 'error' would crash the process.
    model.on('error', () => undefined);
    model.on('blocked', (reason: unknown) => {
      this.blockedReason = String(reason);
      this.onError(new EventportError('RESOURCE_EXHAUSTED', `RabbitMQ blocked the ${this.role} connection: ${reason}`));
    });
    model.on('unblocked', () => {
      this.blockedReason = undefined;
    });
    model.once('close', (error: unknown) => this.lost(model, error));
    this.model = model;
    this.connectedOnce = true;
    for (const waiter of this.waiters) waiter.resolve(model);
    this.waiters.clear();
    return model;
  }

  private lost(model: ChannelModel, error: unknown): void {
    if (this.model !== model) return;
    this.model = undefined;
    this.blockedReason = undefined;
    if (this.closed) return;
    this.onError(
      new EventportError('CONNECTION', `RabbitMQ ${this.role} connection lost; reconnecting`, { cause: error }),
    );
    this.reconnecting ??= this.reconnect().finally(() => {
      this.reconnecting = undefined;
    });
  }

  private async reconnect(): Promise<void> {
    const { initialDelayMs, maxDelayMs } = this.options.reconnect;
    for (let failures = 1; !this.closed; failures++) {
      await this.sleeper.sleep(backoffDelay(failures, initialDelayMs, maxDelayMs));
      if (this.closed) return;
      try {
        await this.dial();
        return;
      } catch (error) {
        if (!this.closed && (failures === 1 || failures % REPORT_EVERY === 0)) {
          this.onError(
            new EventportError('CONNECTION', `RabbitMQ ${this.role} reconnection attempt ${failures} failed`, {
              cause: error,
            }),
          );
        }
      }
    }
  }

  private waitForReconnection(): Promise<ChannelModel> {
    const { operationTimeoutMs } = this.options;
    return new Promise<ChannelModel>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (model) => {
          clearTimeout(timer);
          resolve(model);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(
          new EventportError(
            'CONNECTION',
            `RabbitMQ ${this.role} connection not restored within ${operationTimeoutMs} ms`,
          ),
        );
      }, operationTimeoutMs);
      this.waiters.add(waiter);
    });
  }

  private closedError(): EventportError {
    return new EventportError('CLOSED', `the RabbitMQ ${this.role} connection was closed`);
  }
}
