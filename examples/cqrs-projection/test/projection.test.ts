import { afterEach, describe, expect, test } from '@jest/globals';
import { runProjectionDemo } from '../src/main';

const expected = [
  { accountId: 'acc-1', owner: 'Ada', balanceCents: 7_000, events: 3 },
  { accountId: 'acc-2', owner: 'Grace', balanceCents: 2_500, events: 2 },
];

describe('CQRS projection example', () => {
  const env = { ...process.env };
  afterEach(() => {
    process.env = { ...env };
  });

  test('builds the read model from events and rebuilds the same one by replaying them', async () => {
    delete process.env.EVENT_TYPE;
    delete process.env.READ_MODEL;
    const { live, rebuilt } = await runProjectionDemo(() => undefined);
    expect(live).toEqual(expected);
    expect(rebuilt).toEqual(expected);
  });

  test('runs the same on NATS JetStream (EVENT_TYPE=nats, the local nats-server)', async () => {
    process.env.EVENT_TYPE = 'nats';
    delete process.env.READ_MODEL;
    const { live, rebuilt } = await runProjectionDemo(() => undefined);
    expect(live).toEqual(expected);
    expect(rebuilt).toEqual(expected);
  });

  test('the PostgreSQL read model gives the same answer', async () => {
    delete process.env.EVENT_TYPE;
    process.env.READ_MODEL = 'postgres';
    process.env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/test';
    const { live, rebuilt } = await runProjectionDemo(() => undefined);
    expect(live).toEqual(expected);
    expect(rebuilt).toEqual(expected);
  });
});
