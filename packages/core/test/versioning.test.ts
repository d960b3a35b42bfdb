import { defineEvent, EVENT_VERSION_HEADER, InvalidMessageError } from '@eventport/core';
import { checkHistoricalFixtures } from '@eventport/testkit';
import { describe, expect, test } from '@jest/globals';
import { z } from 'zod';

const customerRenamed = () =>
  defineEvent('customer.renamed')
    .version(1, z.object({ name: z.string() }))
    .version(2, z.object({ first: z.string(), last: z.string() }))
    .version(3, z.object({ first: z.string(), last: z.string(), display: z.string() }))
    .upcast(1, 2, (data) => {
      const [first = '', ...rest] = (data as { name: string }).name.split(' ');
      return { first, last: rest.join(' ') };
    })
    .upcast(2, 3, (data) => {
      const { first, last } = data as { first: string; last: string };
      return { first, last, display: `${first} ${last}` };
    });

describe('versioned events', () => {
  test('upcasts step by step along the path the upcasters form', () => {
    expect(customerRenamed().decode({ name: 'Ada Lovelace' }, { [EVENT_VERSION_HEADER]: '1' })).toEqual({
      first: 'Ada',
      last: 'Lovelace',
      display: 'Ada Lovelace',
    });
  });

  test('takes the shortest path, including a direct edge added later', () => {
    const event = customerRenamed().upcast(1, 3, () => ({ first: 'direct', last: 'edge', display: 'direct edge' }));
    expect(event.decode({ name: 'x y' }, { [EVENT_VERSION_HEADER]: '1' })).toMatchObject({ first: 'direct' });
  });

  test('messages without a version header are taken as v1 (or the declared unversioned version)', () => {
    expect(customerRenamed().decode({ name: 'Grace Hopper' }, {})).toMatchObject({ display: 'Grace Hopper' });
  });

  test('can decode to an older target version when the consumer asks for it', () => {
    expect(customerRenamed().decode({ name: 'Alan Turing' }, { [EVENT_VERSION_HEADER]: '1' }, 2)).toEqual({
      first: 'Alan',
      last: 'Turing',
    });
  });

  test('an unknown version, a missing path or a failing upcaster is an InvalidMessageError', () => {
    const event = customerRenamed();
    expect(() => event.decode({}, { [EVENT_VERSION_HEADER]: '7' })).toThrow(InvalidMessageError);
    expect(() => event.decode({ first: 'a', last: 'b', display: 'c' }, { [EVENT_VERSION_HEADER]: '3' }, 1)).toThrow(
      /no upcaster path from v3 to v1/,
    );
    expect(() => event.decode({ name: 42 }, { [EVENT_VERSION_HEADER]: '1' })).toThrow(InvalidMessageError);
  });

  test('encode writes the latest version header and validates', () => {
    expect(customerRenamed().encode({ first: 'a', last: 'b', display: 'a b' }).headers).toEqual({
      [EVENT_VERSION_HEADER]: '3',
    });
    expect(() => customerRenamed().encode({ first: 'a' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  test('contract helper: every historical fixture still decodes to the latest', () => {
    const fixtures = [
      {
        version: 1,
        data: { name: 'Ada Lovelace' },
        expected: { first: 'Ada', last: 'Lovelace', display: 'Ada Lovelace' },
      },
      { version: 2, data: { first: 'Grace', last: 'Hopper' } },
      { version: 3, data: { first: 'Alan', last: 'Turing', display: 'A. Turing' } },
    ];
    expect(checkHistoricalFixtures(customerRenamed(), fixtures)).toEqual([]);
    expect(checkHistoricalFixtures(customerRenamed(), [{ version: 2, data: { first: 'only' } }])).toHaveLength(1);
  });
});
