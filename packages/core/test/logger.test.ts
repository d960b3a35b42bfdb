import { fieldsFirst } from '@eventport/core';
import { expect, test } from '@jest/globals';

test('fieldsFirst adapts a pino-style logger: fields first, message second, secrets redacted', () => {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const record = (level: string) => (fields: Record<string, unknown>, message: string) =>
    lines.push({ level, fields, message });
  const logger = fieldsFirst({
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  });
  logger.warn('subscription error', { topic: 'orders', error: 'lost redis://app:hunter2@cache:6379' });
  logger.info('no fields');
  expect(lines).toEqual([
    {
      level: 'warn',
      fields: { topic: 'orders', error: 'lost redis://app:***@cache:6379' },
      message: 'subscription error',
    },
    { level: 'info', fields: {}, message: 'no fields' },
  ]);
});
