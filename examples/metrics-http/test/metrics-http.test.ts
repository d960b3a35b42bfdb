import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from '@jest/globals';

const main = path.resolve(__dirname, '../dist/main.js');

test('serves /metrics with eventport counters and the /healthz and /readyz probes', () => {
  const { EVENT_TYPE: _ignored, ...env } = process.env;
  const output = execFileSync(process.execPath, [main, '--smoke'], { env, encoding: 'utf8' });
  expect(output).toMatch(/^eventport_consumed_total\{.*outcome="ack".*\} 5$/m);
  expect(output).toMatch(/^eventport_consumed_total\{.*outcome="nack".*\} 1$/m);
  expect(output).toMatch(/^eventport_subscription_state\{.*state="running".*\} 1$/m);
  const probes = Object.fromEntries(
    output
      .split('\n')
      .filter((line) => line.startsWith('/healthz') || line.startsWith('/readyz'))
      .map((line) => {
        const [probe, status, ...body] = line.split(' ');
        return [probe, { status: Number(status), health: JSON.parse(body.join(' ')) }];
      }),
  );
  expect(probes['/healthz']).toMatchObject({ status: 200, health: { ok: true } });
  expect(probes['/readyz']).toMatchObject({
    status: 200,
    health: { ready: true, subscriptions: [{ topic: 'example.orders', group: 'example-billing', state: 'running' }] },
  });
});
