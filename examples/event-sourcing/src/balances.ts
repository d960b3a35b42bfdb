import type { PgQueryable, StoredEvent } from '@eventport/event-store';
import type { Pool } from 'pg';

/** The read side: one row per account, kept up to date by a projection. */
export interface BalanceView {
  accountId: string;
  owner: string;
  balanceCents: number;
  /** Events applied to this row: a second application of any event would show here. */
  events: number;
}

/** `tx` is the projection batch's transaction (PostgreSQL) or nothing (memory). */
export interface BalancesReadModel<Tx> {
  apply(event: StoredEvent, tx: Tx): Promise<void>;
  reset(tx: Tx): Promise<void>;
  get(accountId: string): Promise<BalanceView | undefined>;
}

/** What an event changes in its account's row. */
function change(event: StoredEvent): { owner?: string; deltaCents: number } {
  const data = event.data as { owner?: string; amountCents?: number };
  if (event.type === 'AccountOpened') return { owner: data.owner, deltaCents: 0 };
  if (event.type === 'MoneyDeposited') return { deltaCents: data.amountCents ?? 0 };
  if (event.type === 'MoneyWithdrawn') return { deltaCents: -(data.amountCents ?? 0) };
  return { deltaCents: 0 };
}

export class MemoryBalances implements BalancesReadModel<undefined> {
  private readonly rows = new Map<string, BalanceView>();

  async apply(event: StoredEvent): Promise<void> {
    const { owner, deltaCents } = change(event);
    const row = this.rows.get(event.streamId) ?? { accountId: event.streamId, owner: '', balanceCents: 0, events: 0 };
    this.rows.set(event.streamId, {
      ...row,
      owner: owner ?? row.owner,
      balanceCents: row.balanceCents + deltaCents,
      events: row.events + 1,
    });
  }

  async reset(): Promise<void> {
    this.rows.clear();
  }

  async get(accountId: string): Promise<BalanceView | undefined> {
    const row = this.rows.get(accountId);
    return row && { ...row };
  }
}

/**
 * The read model in PostgreSQL, written in the projection's batch transaction: the rows and the
 * checkpoint commit together, so no event is ever added to a balance twice, even after a crash.
 */
export class PostgresBalances implements BalancesReadModel<PgQueryable> {
  private readonly table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema))
      throw new Error(`schema must be a lower-case SQL identifier (got "${schema}")`);
    this.table = `${schema}.account_balances`;
  }

  async migrate(): Promise<void> {
    await this.pool.query(`
      CREATE TABLE IF NOT EXISTS ${this.table} (
        account_id text PRIMARY KEY,
        owner text NOT NULL,
        balance_cents bigint NOT NULL,
        events integer NOT NULL
      )`);
  }

  async apply(event: StoredEvent, tx: PgQueryable): Promise<void> {
    const { owner, deltaCents } = change(event);
    await tx.query(
      `INSERT INTO ${this.table} AS b (account_id, owner, balance_cents, events) VALUES ($1, coalesce($2, ''), $3, 1)
       ON CONFLICT (account_id) DO UPDATE SET owner = coalesce($2, b.owner), balance_cents = b.balance_cents + $3,
         events = b.events + 1`,
      [event.streamId, owner ?? null, deltaCents],
    );
  }

  async reset(tx: PgQueryable): Promise<void> {
    await tx.query(`DELETE FROM ${this.table}`);
  }

  async get(accountId: string): Promise<BalanceView | undefined> {
    const { rows } = await this.pool.query<{ owner: string; balance_cents: string; events: number }>(
      `SELECT owner, balance_cents, events FROM ${this.table} WHERE account_id = $1`,
      [accountId],
    );
    const row = rows[0];
    return row && { accountId, owner: row.owner, balanceCents: Number(row.balance_cents), events: row.events };
  }
}
