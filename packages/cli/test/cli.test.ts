import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createAdapter } from '@eventport/core';
import { withDeadLetters } from '@eventport/dlq';
import { eventually, sleep } from '@eventport/testkit';
import { describe, expect, test } from '@jest/globals';

const BIN = path.resolve(__dirname, '../dist/bin.js');
const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function eventport(
  args: string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<Result> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...options.env }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  const code = await new Promise<number>((resolve) => child.on('exit', (exit) => resolve(exit ?? -1)));
  return { code, stdout, stderr };
}

/** Starts `eventport tail` and collects its JSON lines. */
function tail(
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; lines: string[]; exited: Promise<number> } {
  const child = spawn(process.execPath, [BIN, 'tail', '--json', ...args], {
    env: { ...process.env, ...env },
    stdio: 'pipe',
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  child.stderr.on('data', (chunk) => process.stderr.write(chunk));
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))),
  );
  return { child, lines, exited };
}

describe('eventport on memory', () => {
  const env = { EVENT_TYPE: 'memory' };

  test('publish prints the id of each message, one per stdin line', async () => {
    const single = await eventport(['publish', 'cli.orders', '{"orderId":1}', '-k', 'o1', '-H', 'source=cli'], { env });
    expect(single.code).toBe(0);
    expect(single.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    const many = await eventport(['publish', 'cli.orders', '-'], { env, input: '{"n":1}\nplain text\n\n{"n":3}\n' });
    expect(many.code).toBe(0);
    expect(many.stdout.trim().split('\n')).toHaveLength(3);
    expect(many.stderr).toMatch(/published 3/);
  });

  test('health, and errors as one line with documented exit codes', async () => {
    const health = await eventport(['health'], { env });
    expect(health.code).toBe(0);
    expect(JSON.parse(health.stdout)).toMatchObject({ ok: true, backend: 'memory' });
    const unknown = await eventport(['health', '--backend', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /BACKEND_NOT_INSTALLED: EVENT_TYPE=nope needs @eventport\/nope, which is not installed — npm install @eventport\/nope/,
    );
    const usage = await eventport(['publish'], { env });
    expect(usage.code).toBe(2);
    const badHeader = await eventport(['publish', 't', '1', '-H', 'novalue'], { env });
    expect(badHeader.code).toBe(2);
    expect(badHeader.stderr).toMatch(/--header expects name=value/);
    const badCount = await eventport(['tail', 't', '--count', '0'], { env });
    expect(badCount.code).toBe(2);
    expect(badCount.stderr).toMatch(/INVALID_ARGUMENT: --count: Too small: expected number to be >0 \(got "0"\)/);
  });

  test('topics create prints what it did; deleting an unknown topic fails with NOT_FOUND', async () => {
    const created = await eventport(['topics', 'create', 'cli.admin'], { env });
    expect(created).toMatchObject({ code: 0, stdout: 'created cli.admin\n' });
    const missing = await eventport(['topics', 'delete', 'cli.never-created'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/NOT_FOUND/);
  });
});

/** The same flows on real brokers: tail and publish are separate processes, as a person would run them. */
describe.each([
  ['redis-streams', { EVENT_TYPE: 'redis-streams', REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }],
  [
    'rabbitmq',
    { EVENT_TYPE: 'rabbitmq', RABBITMQ_URL: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672' },
  ],
])('eventport on %s', (backend, env) => {
  const topic = `cli-${backend}-${randomUUID().slice(0, 8)}`;

  test('tail prints what publish sends, acks it, and exits after --count', async () => {
    const tailing = tail([topic, '--group', 'cli-tail', '--count', '3'], env);
    // The group exists once tail has subscribed; on RabbitMQ messages published before that are not kept for it.
    await sleep(1_500);
    const published = await eventport(['publish', topic, '-', '--key', 'k1', '--header', 'x-from=cli'], {
      env,
      input: '{"n":1}\n{"n":2}\n{"n":3}\n',
    });
    expect(published.code).toBe(0);
    const ids = published.stdout.trim().split('\n');
    expect(await tailing.exited).toBe(0);
    const received = tailing.lines.map((line) => JSON.parse(line));
    expect(received.map((message) => message.id)).toEqual(ids);
    expect(received.map((message) => message.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(received[0]).toMatchObject({ topic, key: 'k1', headers: { 'x-from': 'cli' } });
    // Acked: the same group sees nothing more.
    const again = tail([topic, '--group', 'cli-tail'], env);
    await sleep(1_500);
    again.child.kill('SIGINT');
    expect(await again.exited).toBe(130);
    expect(again.lines).toEqual([]);
    const terminated = tail([topic, '--group', 'cli-tail'], env);
    await sleep(1_500);
    terminated.child.kill('SIGTERM');
    expect(await terminated.exited).toBe(143);
  }, 60_000);

  test('topics create, list and delete, or fail with UNSUPPORTED where the backend declares no topic admin', async () => {
    const name = `${topic}-admin`;
    const probe = await createAdapter(backend, {});
    const { topicAdmin } = probe.capabilities;
    await probe.disconnect();
    const created = await eventport(['topics', 'create', name], { env });
    if (!topicAdmin) {
      expect(created.code).toBe(1);
      expect(created.stderr).toMatch(/UNSUPPORTED/);
      return;
    }
    expect(created).toMatchObject({ code: 0, stdout: `created ${name}\n` });
    expect((await eventport(['topics', 'list'], { env })).stdout.split('\n')).toContain(name);
    expect((await eventport(['topics', 'delete', name], { env })).code).toBe(0);
    expect((await eventport(['topics', 'list'], { env })).stdout.split('\n')).not.toContain(name);
  });

  test('dlq list and dlq replay bring dead letters back to their topic', async () => {
    const dlqTopic = `${topic}-dlq-case`;
    const adapter = withDeadLetters(await createAdapter(backend, {}), { maxAttempts: 1 });
    const failing = await adapter.subscribe(
      dlqTopic,
      () => {
        throw new Error('always fails');
      },
      { group: 'cli-failing' },
    );
    await adapter.publishBatch([1, 2, 3].map((n) => ({ topic: dlqTopic, data: { n } })));
    // Every letter must be in the DLQ before listing: 3 messages x 1 attempt each.
    await sleep(2_000);
    const listed = await eventport(['dlq', 'list', dlqTopic, '--json'], { env });
    await failing.close();
    expect(listed.code).toBe(0);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).reason),
    ).toEqual(['exhausted', 'exhausted', 'exhausted']);
    const back: unknown[] = [];
    const replayedTo = await adapter.subscribe(dlqTopic, (message) => void back.push(message.data), {
      group: 'cli-after-replay',
    });
    const replayed = await eventport(['dlq', 'replay', dlqTopic], { env });
    expect(replayed.code).toBe(0);
    expect(replayed.stderr).toMatch(/replayed 3/);
    expect(await eventually(() => back.length === 3, 20_000)).toBe(true);
    await replayedTo.close();
    await adapter.disconnect();
  }, 60_000);
});

test('the binary is executable through node with --help', async () => {
  const { stdout } = await run(process.execPath, [BIN, '--help']);
  expect(stdout).toMatch(/publish .*\n.*tail/s);
});
