import { expect, test } from '@jest/globals';
import { runSagaDemo } from '../src/main';

// memory (the default), and NATS JetStream on the local nats-server.
test.each([
  ['memory', undefined],
  ['nats', 'nats'],
])(
  '%s: success path confirms, failed payment is compensated, and a restarted saga rebuilds both states',
  async (_name, backend) => {
    const lines: string[] = [];
    const { EVENT_TYPE } = process.env;
    if (backend) process.env.EVENT_TYPE = backend;
    else delete process.env.EVENT_TYPE;
    try {
      const outcome = await runSagaDemo((line) => lines.push(line));
      expect(outcome.get('order-ok')).toBe('confirmed');
      expect(outcome.get('order-too-expensive')).toBe('cancelled');
      expect(outcome.get('rebuilt:order-ok')).toBe('confirmed');
      expect(outcome.get('rebuilt:order-too-expensive')).toBe('cancelled');
      const log = lines.join('\n');
      expect(log).toMatch(
        /order-too-expensive: cancelled via order\.placed → inventory\.reserved → payment\.failed → inventory\.release-requested → inventory\.released/,
      );
      expect(log).toMatch(/rebuilt after restart: order-too-expensive is cancelled \(from .*order\.cancelled/);
      expect(log).toMatch(/rebuilt after restart: order-ok is confirmed \(from .*order\.confirmed/);
    } finally {
      if (EVENT_TYPE !== undefined) process.env.EVENT_TYPE = EVENT_TYPE;
      else delete process.env.EVENT_TYPE;
    }
  },
);
