import { type EventAdapter, EventChannel, type Subscription } from '@eventport/core';
import type { Pool } from 'pg';
import { z } from 'zod';

export const AccountEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('opened'), accountId: z.string(), owner: z.string() }),
  z.object({ type: z.literal('deposited'), accountId: z.string(), amountCents: z.number().int().positive() }),
  z.object({ type: z.literal('withdrawn'), accountId: z.string(), amountCents: z.number().int().positive() }),
]);
export type AccountEvent = z.infer<typeof AccountEvent>;

export interface AccountView {
  accountId: string;
  owner: string;
  balanceCents: number;
  events: number;
}

/**
 * Where the projection writes. `apply` must be idempotent per event id: delivery is at-least-once, so
 * the same event can arrive twice and must not be counted twice.
 */
export interface ReadModel {
  apply(eventId: string, event: AccountEvent): Promise<void>;
  get(accountId: string): Promise<AccountView | undefined>;
  all(): Promise<AccountView[]>;
  reset(): Promise<void>;
}

export class MemoryReadModel implements ReadModel {
  private readonly views = new Map<string, AccountView>();
  private readonly applied = new Set<string>();

  async apply(eventId: string, event: AccountEvent): Promise<void> {
    if (this.applied.has(eventId)) return;
    this.applied.add(eventId);
    const view = this.views.get(event.accountId) ?? {
      accountId: event.accountId,
      owner: '',
      balanceCents: 0,
      events: 0,
    };
    this.views.set(event.accountId, fold(view, event));
  }
  async get(accountId: string) {
    return this.views.get(accountId);
  }
  async all() {
    return [...this.views.values()].sort((a, b) => a.accountId.localeCompare(b.accountId));
  }
  async reset() {
    this.views.clear();
    this.applied.clear();
  }
}

/** The same read model in PostgreSQL: the event id and the balance change commit in one transaction. */
export class PostgresReadModel implements ReadModel {
  constructor(
    private readonly pool: Pool,
    private readonly table = 'account_view',
  ) {}

  async migrate(): Promise<void> {
    await this.pool.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
      account_id text PRIMARY KEY, owner text NOT NULL DEFAULT '', balance_cents bigint NOT NULL DEFAULT 0, events integer NOT NULL DEFAULT 0)`);
    await this.pool.query(`CREATE TABLE IF NOT EXISTS ${this.table}_applied (event_id text PRIMARY KEY)`);
  }

  async apply(eventId: string, event: AccountEvent): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const fresh = await client.query(
        `INSERT INTO ${this.table}_applied (event_id) VALUES ($1) ON CONFLICT DO NOTHING`,
        [eventId],
      );
      if (fresh.rowCount === 1) {
        const current = await client.query(
          `SELECT owner, balance_cents, events FROM ${this.table} WHERE account_id = $1 FOR UPDATE`,
          [event.accountId],
        );
        const row = current.rows[0] as { owner: string; balance_cents: string; events: number } | undefined;
        const view = fold(
          {
            accountId: event.accountId,
            owner: row?.owner ?? '',
            balanceCents: Number(row?.balance_cents ?? 0),
            events: row?.events ?? 0,
          },
          event,
        );
        await client.query(
          `INSERT INTO ${this.table} (account_id, owner, balance_cents, events) VALUES ($1, $2, $3, $4)
           ON CONFLICT (account_id) DO UPDATE SET owner = $2, balance_cents = $3, events = $4`,
          [view.accountId, view.owner, view.balanceCents, view.events],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  async get(accountId: string) {
    return (await this.all()).find((view) => view.accountId === accountId);
  }

  async all(): Promise<AccountView[]> {
    const result = await this.pool.query(
      `SELECT account_id, owner, balance_cents, events FROM ${this.table} ORDER BY account_id`,
    );
    return result.rows.map((row: { account_id: string; owner: string; balance_cents: string; events: number }) => ({
      accountId: row.account_id,
      owner: row.owner,
      balanceCents: Number(row.balance_cents),
      events: row.events,
    }));
  }

  async reset(): Promise<void> {
    await this.pool.query(`TRUNCATE ${this.table}, ${this.table}_applied`);
  }

  async drop(): Promise<void> {
    await this.pool.query(`DROP TABLE IF EXISTS ${this.table}, ${this.table}_applied`);
  }
}

function fold(view: AccountView, event: AccountEvent): AccountView {
  switch (event.type) {
    case 'opened':
      return { ...view, owner: event.owner, events: view.events + 1 };
    case 'deposited':
      return { ...view, balanceCents: view.balanceCents + event.amountCents, events: view.events + 1 };
    case 'withdrawn':
      return { ...view, balanceCents: view.balanceCents - event.amountCents, events: view.events + 1 };
  }
}

/** All account events on one topic, keyed by account, so each account's events are applied in order. */
export function accountChannel(adapter: EventAdapter, prefix: string) {
  return new EventChannel({ schema: AccountEvent, topicPrefix: prefix, adapter });
}

export class Projection {
  private subscription: Subscription | undefined;

  constructor(
    private readonly channel: ReturnType<typeof accountChannel>,
    private readonly model: ReadModel,
  ) {}

  async start(group = 'account-view'): Promise<void> {
    const { capabilities } = await this.channel.adapter();
    this.subscription = await this.channel.pull('events', (event) => this.model.apply(event.id, event.data), {
      group,
      // A new view starts from the retained history where the broker keeps one.
      fromBeginning: capabilities.replayFromStart,
    });
  }

  /**
   * Throws the read model away and replays every retained event into it, with a new consumer group.
   * Returns once `idleMs` passes without an event.
   */
  async rebuild(options: { idleMs?: number } = {}): Promise<void> {
    await this.stop();
    await this.model.reset();
    let lastEventAt = Date.now();
    const replay = await this.channel.pull(
      'events',
      async (event) => {
        lastEventAt = Date.now();
        await this.model.apply(event.id, event.data);
      },
      { group: `account-view-rebuild-${Date.now()}`, fromBeginning: true },
    );
    const idleMs = options.idleMs ?? 500;
    while (Date.now() - lastEventAt < idleMs) await new Promise((resolve) => setTimeout(resolve, 50));
    await replay.close();
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
    this.subscription = undefined;
  }
}
