import { randomUUID } from 'node:crypto';
import { defineEvent } from '@eventport/core';
import { MemoryEventStore, PostgresEventStore } from '@eventport/event-store';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Pool } from 'pg';
import { z } from 'zod';
import { ACCOUNT_EVENTS, AccountRuleError, Bank } from '../src/account';
import { MemoryBalances, PostgresBalances } from '../src/balances';
import { type DemoResult, runBankDemo } from '../src/demo';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function expectTheStory(result: DemoResult): void {
  // 100.00 in, 30.00 out, then the racing 20.00 and 30.00: 20.00 left.
  expect(result.balanceCents).toBe(20_00);
  expect(result.version).toBe(5);
  expect(result.balanceAtVersion2).toBe(100_00);
  expect(result.refusedWithdrawals).toBe(1);
  expect(result.raceAttempts).toEqual([1, 2]);
  expect(result.conflicts).toBe(1);
  const view = { accountId: result.accountId, owner: 'ada', balanceCents: 20_00, events: 5 };
  expect(result.projected).toEqual(view);
  expect(result.rebuilt).toEqual(view);
  expect(result.rebuildProgress.at(-1)).toBeGreaterThanOrEqual(5);
}

describe('examples/event-sourcing: a bank account', () => {
  it('on the memory store', async () => {
    const result = await runBankDemo({
      store: new MemoryEventStore({ events: ACCOUNT_EVENTS }),
      balances: new MemoryBalances(),
      log: () => {},
    });
    expectTheStory(result);
  });

  it('refuses an overdraft and appends nothing for it', async () => {
    const store = new MemoryEventStore({ events: ACCOUNT_EVENTS });
    const bank = new Bank(store);
    await bank.open('acct', 'grace');
    await bank.deposit('acct', 5_00);
    await expect(bank.withdraw('acct', 5_01)).rejects.toEqual(expect.any(AccountRuleError));
    await expect(bank.deposit('unopened', 1_00)).rejects.toMatchObject({ rule: 'not-open' });
    await expect(bank.open('acct', 'grace')).rejects.toMatchObject({ rule: 'already-open' });
    expect(await store.streamVersion('acct')).toBe(2);
    await expect(bank.deposit('acct', -1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  describe('on PostgreSQL', () => {
    const pool = new Pool({ connectionString: DATABASE_URL, max: 4 });
    const schema = `bank_demo_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    afterAll(async () => {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    });

    it('tells the same story, with the read model in the projection transaction', async () => {
      const store = new PostgresEventStore({ pool, schema, events: ACCOUNT_EVENTS });
      await store.migrate();
      const balances = new PostgresBalances(pool, schema);
      await balances.migrate();
      expectTheStory(await runBankDemo({ store, balances, log: () => {} }));
    });

    it('reads deposits the previous release stored as version 1 (decimal euros) as version 2 (cents)', async () => {
      const previousRelease = new PostgresEventStore({
        pool,
        schema,
        events: [defineEvent('MoneyDeposited').version(1, z.object({ amount: z.number() }))],
      });
      await previousRelease.append('account-legacy', [
        { type: 'AccountOpened', data: { owner: 'linus' } },
        { type: 'MoneyDeposited', data: { amount: 12.34 } },
      ]);
      const bank = new Bank(new PostgresEventStore({ pool, schema, events: ACCOUNT_EVENTS }));
      const result = await bank.deposit('account-legacy', 66);
      expect(result.balanceCents).toBe(13_00);
      const { state } = await bank.account('account-legacy');
      expect(state).toEqual({ open: true, owner: 'linus', balanceCents: 13_00 });
    });
  });
});
