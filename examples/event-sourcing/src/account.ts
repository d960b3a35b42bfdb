import { defineEvent } from '@eventport/core';
import {
  ConcurrencyError,
  type EventStore,
  type LoadedState,
  type NewEvent,
  type StateAt,
  type StoredEvent,
} from '@eventport/event-store';
import { z } from 'zod';

const Opened = z.object({ owner: z.string().min(1) });
const Deposited = z.object({ amountCents: z.number().int().positive() });
const Withdrawn = z.object({ amountCents: z.number().int().positive() });

export const AccountOpened = defineEvent('AccountOpened').version(1, Opened);
/** Version 1 carried a decimal amount in euros; stored v1 events are read as v2 (cents). */
export const MoneyDeposited = defineEvent('MoneyDeposited')
  .version(1, z.object({ amount: z.number().positive() }))
  .version(2, Deposited)
  .upcast(1, 2, (data) => ({ amountCents: Math.round((data as { amount: number }).amount * 100) }));
export const MoneyWithdrawn = defineEvent('MoneyWithdrawn').version(1, Withdrawn);

/** Give these to the store: appends are validated against them and old versions are upcast on read. */
export const ACCOUNT_EVENTS = [AccountOpened, MoneyDeposited, MoneyWithdrawn];

export interface Account {
  open: boolean;
  owner: string;
  balanceCents: number;
}

export const NO_ACCOUNT: Account = { open: false, owner: '', balanceCents: 0 };

/** The account is nothing but the fold of its events. */
export function evolve(account: Account, event: StoredEvent): Account {
  switch (event.type) {
    case 'AccountOpened':
      return { ...account, open: true, owner: (event.data as z.infer<typeof Opened>).owner };
    case 'MoneyDeposited':
      return { ...account, balanceCents: account.balanceCents + (event.data as z.infer<typeof Deposited>).amountCents };
    case 'MoneyWithdrawn':
      return { ...account, balanceCents: account.balanceCents - (event.data as z.infer<typeof Withdrawn>).amountCents };
    default:
      return account;
  }
}

/** A business rule said no: nothing was appended. */
export class AccountRuleError extends Error {
  constructor(
    readonly rule: 'insufficient-funds' | 'not-open' | 'already-open',
    message: string,
  ) {
    super(message);
    this.name = 'AccountRuleError';
  }
}

export interface CommandResult {
  /** The account's stream version after the command. */
  version: number;
  balanceCents: number;
  /** 1, plus one for every race lost to another command (ConcurrencyError) and retried. */
  attempts: number;
}

export interface BankOptions {
  /** Load from a snapshot plus the events after it; a new snapshot every this many events. Default 50. */
  snapshotEvery?: number;
  /** How often a command that lost a race is decided again on the fresh state. Default 3. */
  maxRetries?: number;
  /** Runs after a command loaded the account and decided, before it appends (the demo lines up a race here). */
  beforeAppend?: (accountId: string, attempt: number) => Promise<void> | void;
  onConflict?: (error: ConcurrencyError, attempt: number) => void;
}

/**
 * Commands on accounts: load the account (snapshot plus tail), decide, append with the version
 * that was loaded. A command that lost a race to another is decided again on the new state, so a
 * rule like "no overdraft" holds even when two withdrawals arrive at the same moment.
 */
export class Bank<Tx> {
  private readonly snapshotEvery: number;
  private readonly maxRetries: number;

  constructor(
    readonly store: EventStore<Tx>,
    private readonly options: BankOptions = {},
  ) {
    this.snapshotEvery = options.snapshotEvery ?? 50;
    this.maxRetries = options.maxRetries ?? 3;
  }

  open(accountId: string, owner: string): Promise<CommandResult> {
    return this.execute(accountId, (account) => {
      if (account.open) throw new AccountRuleError('already-open', `${accountId} is already open`);
      return [{ type: 'AccountOpened', data: { owner } }];
    });
  }

  deposit(accountId: string, amountCents: number): Promise<CommandResult> {
    return this.execute(accountId, (account) => {
      requireOpen(accountId, account);
      return [{ type: 'MoneyDeposited', data: { amountCents } }];
    });
  }

  withdraw(accountId: string, amountCents: number): Promise<CommandResult> {
    return this.execute(accountId, (account) => {
      requireOpen(accountId, account);
      if (account.balanceCents < amountCents) {
        throw new AccountRuleError(
          'insufficient-funds',
          `${accountId} holds ${account.balanceCents} cents, cannot withdraw ${amountCents}`,
        );
      }
      return [{ type: 'MoneyWithdrawn', data: { amountCents } }];
    });
  }

  account(accountId: string): Promise<LoadedState<Account>> {
    return this.store.load(accountId, evolve, NO_ACCOUNT, { snapshotEvery: this.snapshotEvery });
  }

  /** The account as it was after a given version, or at a given time. */
  accountAt(accountId: string, at: StateAt): Promise<LoadedState<Account>> {
    return this.store.stateAt(accountId, evolve, NO_ACCOUNT, at);
  }

  private async execute(accountId: string, decide: (account: Account) => NewEvent[]): Promise<CommandResult> {
    for (let attempt = 1; ; attempt++) {
      const { state, version } = await this.account(accountId);
      const events = decide(state);
      await this.options.beforeAppend?.(accountId, attempt);
      try {
        const appended = await this.store.append(accountId, events, { expectedVersion: version });
        const after = appended.events.reduce(evolve, state);
        return { version: appended.version, balanceCents: after.balanceCents, attempts: attempt };
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt > this.maxRetries) throw error;
        this.options.onConflict?.(error, attempt);
      }
    }
  }
}

function requireOpen(accountId: string, account: Account): void {
  if (!account.open) throw new AccountRuleError('not-open', `${accountId} is not open`);
}
