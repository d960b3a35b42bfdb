import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from '@jest/globals';

const main = path.resolve(__dirname, '../dist/main.js');

test('the quickstart publishes and consumes its five events on the default (memory) backend', () => {
  const { EVENT_TYPE: _ignored, ...env } = process.env;
  const output = execFileSync(process.execPath, [main], { env, encoding: 'utf8' });
  expect(output).toMatch(/^backend: memory$/m);
  expect(output.match(/^→ published/gm)).toHaveLength(5);
  expect(output.match(/^← consumed/gm)).toHaveLength(5);
  expect(output).toMatch(/done: 5 of 5 events consumed/);
});

test('the same program runs on NATS JetStream with EVENT_TYPE=nats (the local nats-server)', () => {
  const output = execFileSync(process.execPath, [main], {
    env: { ...process.env, EVENT_TYPE: 'nats' },
    encoding: 'utf8',
  });
  expect(output).toMatch(/^backend: nats$/m);
  expect(output.match(/^← consumed/gm)).toHaveLength(5);
  expect(output).toMatch(/done: 5 of 5 events consumed/);
});

test('an unknown EVENT_TYPE fails saying which package it looked for', () => {
  let stderr = '';
  try {
    execFileSync(process.execPath, [main], {
      env: { ...process.env, EVENT_TYPE: 'nope' },
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch (error) {
    stderr = String((error as { stderr?: string }).stderr);
  }
  expect(stderr).toMatch(
    /EVENT_TYPE=nope needs @eventport\/nope, which is not installed — npm install @eventport\/nope/,
  );
});
