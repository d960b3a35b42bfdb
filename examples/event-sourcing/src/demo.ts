import { randomUUID } from 'node:crypto';
import type { EventStore } from '@eventport/event-store';
import { AccountRuleError, Bank } from './account.js';
import type { BalancesReadModel, BalanceView } from './balances.js';

export interface DemoOptions<Tx> {
  /** Made with ACCOUNT_EVENTS as its events, so deposits are validated and upcast. */
  store: EventStore<Tx>;
  balances: BalancesReadModel<Tx>;
  accountId?: string;
  log?: (line: string) => void;
}

export interface DemoResult {
  accountId: string;
  balanceCents: number;
  version: number;
  /** The balance after version 2 (opened, first deposit). */
  balanceAtVersion2: number;
  refusedWithdrawals: number;
  /** The attempts of the two racing withdrawals: [1, 2] when one lost and retried. */
  raceAttempts: number[];
  conflicts: number;
  projected: BalanceView | undefined;
  rebuilt: BalanceView | undefined;
  rebuildProgress: number[];
}

const euros = (cents: number) => (cents / 100).toFixed(2);

/** Lets `count` commands load the same version before any of them appends: a race, every time. */
function lineUp(count: number): (accountId: string, attempt: number) => Promise<void> {
  let arrived = 0;
  let release: () => void = () => {};
  const everyone = new Promise<void>((resolve) => {
    release = resolve;
  });
  return async (_accountId, attempt) => {
    if (attempt > 1) return;
    if (++arrived === count) release();
    await everyone;
  };
}

/**
 * Opens an account, deposits, withdraws, is refused an overdraft, races two withdrawals (one loses,
 * retries and still succeeds), looks at an earlier balance, then projects and rebuilds a read model.
 */
export async function runBankDemo<Tx>({
  store,
  balances,
  accountId = `account-${randomUUID().slice(0, 8)}`,
  log = console.log,
}: DemoOptions<Tx>): Promise<DemoResult> {
  const bank = new Bank(store);
  await bank.open(accountId, 'ada');
  log(`opened ${accountId} for ada`);
  let result = await bank.deposit(accountId, 100_00);
  log(`deposited 100.00 -> balance ${euros(result.balanceCents)} (version ${result.version})`);
  result = await bank.withdraw(accountId, 30_00);
  log(`withdrew 30.00 -> balance ${euros(result.balanceCents)} (version ${result.version})`);

  let refusedWithdrawals = 0;
  try {
    await bank.withdraw(accountId, 500_00);
  } catch (error) {
    if (!(error instanceof AccountRuleError && error.rule === 'insufficient-funds')) throw error;
    refusedWithdrawals++;
    log(`refused: ${error.message}`);
  }

  // Two tellers withdraw at the same moment: both decide on version 3, only one append can win.
  let conflicts = 0;
  const tellers = new Bank(store, {
    beforeAppend: lineUp(2),
    onConflict: (error) => {
      conflicts++;
      log(`conflict: ${error.message}; deciding again on the new balance`);
    },
  });
  const race = await Promise.all([tellers.withdraw(accountId, 20_00), tellers.withdraw(accountId, 30_00)]);
  const last = race.reduce((latest, each) => (each.version > latest.version ? each : latest));
  log(
    `both withdrawals went through (attempts ${race.map((each) => each.attempts).join(' and ')}) -> balance ${euros(last.balanceCents)}`,
  );

  const earlier = await bank.accountAt(accountId, { version: 2 });
  log(`time travel: at version 2 the balance was ${euros(earlier.state.balanceCents)}`);

  const projection = store.project('balances', (event, tx) => balances.apply(event, tx), {
    reset: (tx) => balances.reset(tx),
  });
  await projection.caughtUp();
  const projected = await balances.get(accountId);
  log(`projection: ${accountId} ${euros(projected?.balanceCents ?? 0)} from ${projected?.events} events`);
  const rebuildProgress: number[] = [];
  await store.rebuild('balances', { onProgress: ({ position }) => rebuildProgress.push(position) });
  const rebuilt = await balances.get(accountId);
  log(`rebuilt from scratch: ${accountId} ${euros(rebuilt?.balanceCents ?? 0)} from ${rebuilt?.events} events`);
  await projection.stop();

  const current = await bank.account(accountId);
  return {
    accountId,
    balanceCents: current.state.balanceCents,
    version: current.version,
    balanceAtVersion2: earlier.state.balanceCents,
    refusedWithdrawals,
    raceAttempts: race.map((each) => each.attempts).sort(),
    conflicts,
    projected,
    rebuilt,
    rebuildProgress,
  };
}
