import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createAdapter, type EventAdapter } from '@eventport/core';
import { withDeadLetters } from '@eventport/dlq';
import { eventually, sleep } from '@eventport/testkit';
import { describe, expect, test } from '@jest/globals';

const BIN = path.resolve(__dirname, '../dist/bin.js');
/** Seeds the memory broker of the binary's own process and registers the probe, hang and noreplay backends. */
const PRELOAD = path.resolve(__dirname, 'fixtures/preload.js');
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

interface Seed {
  topic: string;
  messages?: Array<{
    id?: string;
    data?: unknown;
    raw?: string;
    key?: string;
    headers?: Record<string, string>;
    timestamp?: number;
  }>;
  live?: { count: number; everyMs: number; startAfterMs?: number };
}

interface Launched {
  child: ChildProcess;
  /** stdout so far, and split into lines. */
  readonly stdout: string;
  readonly lines: string[];
  readonly stderr: string;
  exited: Promise<number>;
}

/** The real binary in a process of its own, preloaded with the memory seed and the test backends. */
function launch(
  args: string[],
  options: { env?: Record<string, string>; seed?: Seed; stdin?: 'open' | string } = {},
): Launched {
  const env: Record<string, string | undefined> = { ...process.env, EVENT_TYPE: 'memory', ...options.env };
  if (options.seed) env.EVENTPORT_TEST_SEED = JSON.stringify(options.seed);
  const child = spawn(process.execPath, ['-r', PRELOAD, BIN, ...args], { env, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  if (options.stdin !== 'open') child.stdin.end(options.stdin ?? '');
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))),
  );
  return {
    child,
    get stdout() {
      return stdout;
    },
    get lines() {
      return stdout.split('\n').filter((line) => line !== '');
    },
    get stderr() {
      return stderr;
    },
    exited,
  };
}

async function finished(launched: Launched): Promise<Result> {
  const code = await launched.exited;
  return { code, stdout: launched.stdout, stderr: launched.stderr };
}

/** The overrides and portable options the probe backend received. */
function probed(stderr: string): { overrides: Record<string, unknown>; options: Record<string, unknown> } {
  const line = stderr.split('\n').find((each) => each.startsWith('probe '));
  if (!line) throw new Error(`the probe backend was not created; stderr:\n${stderr}`);
  return JSON.parse(line.slice('probe '.length));
}

function tempFile(name: string, content: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'eventport-cli-')), name);
  writeFileSync(file, content);
  return file;
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

describe('connection settings: --url, -X, --config, EVENTPORT_CONFIG', () => {
  test('--version prints the version of the CLI and of core', async () => {
    const { code, stdout } = await eventport(['--version']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^eventport \d+\.\d+\.\d+ \(@eventport\/core \d+\.\d+\.\d+, node v\d+/);
  });

  test('--url and -X reach the backend: JSON values parsed, dotted keys nested, portable options split off', async () => {
    const result = await finished(
      launch([
        '--backend',
        'probe',
        '--url',
        'redis://cache:6380',
        '-X',
        'retries=3',
        '-X',
        'tls=true',
        '-X',
        'brokers=["a:1","b:2"]',
        '-X',
        'name=plain text',
        '-X',
        'quoted="42"',
        '-X',
        'nested.inner=x',
        '-X',
        'nested.other=1',
        '-X',
        'deadlines.healthMs=250',
        'health',
      ]),
    );
    expect(result.code).toBe(0);
    expect(probed(result.stderr)).toEqual({
      overrides: {
        url: 'redis://cache:6380',
        retries: 3,
        tls: true,
        brokers: ['a:1', 'b:2'],
        name: 'plain text',
        quoted: '42',
        nested: { inner: 'x', other: 1 },
      },
      options: { deadlines: { healthMs: 250 } },
    });
  });

  test('a config file sets backend and options; flags override it, and it overrides EVENT_TYPE', async () => {
    const file = tempFile(
      'eventport.json',
      JSON.stringify({ backend: 'probe', options: { url: 'from-file', retries: 1, nested: { a: 1, b: 1 } } }),
    );
    const viaFlag = await finished(
      launch(['--config', file, '-X', 'nested.b=2', 'health'], { env: { EVENT_TYPE: 'memory' } }),
    );
    expect(viaFlag.code).toBe(0);
    expect(probed(viaFlag.stderr).overrides).toEqual({ url: 'from-file', retries: 1, nested: { a: 1, b: 2 } });
    const viaEnv = await finished(launch(['--url', 'from-flag', 'health'], { env: { EVENTPORT_CONFIG: file } }));
    expect(viaEnv.code).toBe(0);
    expect(probed(viaEnv.stderr).overrides).toMatchObject({ url: 'from-flag', retries: 1 });
    // --backend beats the file.
    const flagWins = await finished(launch(['--config', file, '--backend', 'memory', 'health']));
    expect(flagWins.code).toBe(2);
    expect(flagWins.stderr).toMatch(/INVALID_CONFIG: invalid memory configuration: unknown options? "url"/);
  });

  test('bad connection settings are usage errors (2), each printed once as CODE: message', async () => {
    const missing = await eventport(['--config', '/nonexistent/eventport.json', 'health']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/INVALID_ARGUMENT: --config: cannot read \/nonexistent\/eventport.json \(ENOENT\)/);
    const notJson = await eventport(['--config', tempFile('bad.json', '{ backend: memory'), 'health']);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/INVALID_ARGUMENT: --config: .*bad.json is not JSON/);
    const typo = await eventport(['--config', tempFile('typo.json', '{"backend":"memory","option":{}}'), 'health']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown option "option" \(did you mean "options"\?\)/);
    const noValue = await eventport(['-X', 'novalue', 'health'], { env: { EVENT_TYPE: 'memory' } });
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toMatch(/INVALID_ARGUMENT: -X expects key=value \(got "novalue"\)/);
    const unknownOption = await eventport(['-X', 'retainPerTopc=5', 'health'], { env: { EVENT_TYPE: 'memory' } });
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toMatch(/INVALID_CONFIG: .*"retainPerTopc" \(did you mean "retainPerTopic"\?\)/);
    const noUrl = await eventport(['--url', 'x', 'health'], { env: { EVENT_TYPE: 'memory' } });
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toMatch(/INVALID_ARGUMENT: --url: the memory backend has no URL option/);
    for (const result of [missing, notJson, typo, noValue, unknownOption, noUrl]) {
      expect(result.stderr.match(/eventport:/g)).toHaveLength(1);
      expect(result.stderr).not.toMatch(/Error: Error/);
    }
  });

  test.each([
    ['redis-streams', 'http://not-redis', /redis-streams option "url"/],
    ['rabbitmq', 'http://not-amqp', /rabbitmq option "url"/],
    ['kafka', 'not-a-host-port', /kafka option "brokers/],
  ])('--url sets the URL option of %s (validated before anything connects)', async (backend, url, named) => {
    const result = await eventport(['--backend', backend, '--url', url, 'health']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/INVALID_CONFIG/);
    expect(result.stderr).toMatch(named);
  });
});

describe("tail on memory (the broker seeded inside the binary's process)", () => {
  const topic = 'cli.tail';
  const seeded: Seed = {
    topic,
    messages: [
      {
        id: 'm1',
        data: { n: 1 },
        key: 'k1',
        headers: { 'x-from': 'seed' },
        timestamp: Date.parse('2020-01-01T00:00:00Z'),
      },
      {
        id: 'm2',
        data: 'plain text',
        headers: { 'ce-type': 'note.written', 'ce-source': 'urn:test:seed' },
        timestamp: Date.parse('2020-01-02T00:00:00Z'),
      },
      { id: 'm3', data: [1, 2], key: 'k3', timestamp: Date.now() - 60_000 },
    ],
  };

  test('--json lines carry attempt, group and the broker position; -e exits 0 at the end of the topic', async () => {
    const result = await finished(
      launch(['tail', topic, '--from-beginning', '-e', '--idle', '200ms', '--json'], { seed: seeded }),
    );
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.id)).toEqual(['m1', 'm2', 'm3']);
    expect(lines[0]).toMatchObject({
      topic,
      key: 'k1',
      data: { n: 1 },
      headers: { 'x-from': 'seed' },
      timestamp: Date.parse('2020-01-01T00:00:00Z'),
      attempt: 1,
      meta: { offset: 0 },
    });
    expect(lines[0].group).toMatch(/^eventport-tail-\d+-/);
    expect(lines[2].meta).toEqual({ offset: 2 });
    // CloudEvents type and source are fields, not headers.
    expect(lines[1]).toMatchObject({ type: 'note.written', source: 'urn:test:seed', headers: {} });
    // Not a TTY and no --stats: nothing but the data on stdout, no reports on stderr.
    expect(result.stderr).not.toMatch(/received/);
  });

  test('--format prints placeholders and escapes, one message per line', async () => {
    const result = await finished(
      launch(
        [
          'tail',
          topic,
          '--from-beginning',
          '-e',
          '--idle',
          '200ms',
          '-g',
          'fmt',
          '-f',
          '%i|%k|%s|%a|%T|%p|%g|%t|%h|100%%\\tend',
        ],
        { seed: seeded },
      ),
    );
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      `m1|k1|{"n":1}|1|${topic}|{"offset":0}|fmt|2020-01-01T00:00:00.000Z|{"x-from":"seed"}|100%\tend`,
      `m2||plain text|1|${topic}|{"offset":1}|fmt|2020-01-02T00:00:00.000Z|{}|100%\tend`,
      expect.stringMatching(/^m3\|k3\|\[1,2\]\|1\|/),
      '',
    ]);
  });

  test('--format that ends in \\n gets no second newline; --format and --json exclude each other', async () => {
    const result = await finished(
      launch(['tail', topic, '--from-beginning', '-e', '--idle', '200ms', '-f', '%i\\n'], { seed: seeded }),
    );
    expect(result).toMatchObject({ code: 0, stdout: 'm1\nm2\nm3\n' });
    const both = await eventport(['tail', topic, '--json', '-f', '%i'], { env: { EVENT_TYPE: 'memory' } });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--format.*cannot be used with option '--json'/);
  });

  test('--since reads from the beginning and skips what was published before TIME', async () => {
    const absolute = await finished(
      launch(['tail', topic, '--since', '2020-01-01T12:00:00Z', '-e', '--idle', '200ms', '-f', '%i'], { seed: seeded }),
    );
    expect(absolute).toMatchObject({ code: 0, stdout: 'm2\nm3\n' });
    expect(absolute.stderr).toMatch(/skipped 1 message\(s\) published before 2020-01-01T12:00:00.000Z \(--since\)/);
    const relative = await finished(
      launch(['tail', topic, '--since', '1h', '-e', '--idle', '200ms', '-f', '%i'], { seed: seeded }),
    );
    expect(relative).toMatchObject({ code: 0, stdout: 'm3\n' });
    const epoch = await finished(
      launch(
        ['tail', topic, '--since', String(Date.parse('2020-01-02T00:00:00Z')), '-e', '--idle', '200ms', '-f', '%i'],
        {
          seed: seeded,
        },
      ),
    );
    expect(epoch).toMatchObject({ code: 0, stdout: 'm2\nm3\n' });
  });

  test('--since and --from-beginning fail with UNSUPPORTED where the backend cannot replay', async () => {
    for (const flags of [['--since', '1h'], ['--from-beginning']]) {
      const result = await finished(launch(['--backend', 'noreplay', 'tail', topic, ...flags, '-e'], { seed: seeded }));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(
          `UNSUPPORTED: ${flags[0]}: memory cannot replay retained messages \\(capabilities.replayFromStart is false\\)`,
        ),
      );
    }
  });

  test('-e waits out live traffic, then exits; an empty topic ends after five idle windows', async () => {
    const started = Date.now();
    const live = await finished(
      launch(['tail', 'cli.live', '--from-beginning', '-e', '--idle', '600ms', '-f', '%i'], {
        seed: { topic: 'cli.live', live: { count: 6, everyMs: 150, startAfterMs: 200 } },
      }),
    );
    expect(live).toMatchObject({ code: 0, stdout: 'live-1\nlive-2\nlive-3\nlive-4\nlive-5\nlive-6\n' });
    // 200 ms + 6 x 150 ms of traffic, then the 600 ms idle window.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    const emptyStarted = Date.now();
    const empty = await finished(launch(['tail', 'cli.empty', '-e', '--idle', '100ms']));
    expect(empty).toMatchObject({ code: 0, stdout: '' });
    expect(Date.now() - emptyStarted).toBeGreaterThanOrEqual(500);
  });

  test('--stats reports "received N (R msg/s)" on stderr every second, and a total at the end', async () => {
    const result = await finished(
      launch(['tail', 'cli.rate', '--from-beginning', '-e', '--idle', '500ms', '--stats', '-f', '%i'], {
        seed: { topic: 'cli.rate', live: { count: 25, everyMs: 80 } },
      }),
    );
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(25);
    expect(result.stderr).toMatch(/^received \d+ \(\d+(\.\d)? msg\/s\)$/m);
    expect(result.stderr).toMatch(/^received 25 in \d+\.\d s \(\d+(\.\d)? msg\/s\)$/m);
  });

  test('an undecodable message is reported on stderr and does not stop the tail', async () => {
    const result = await finished(
      launch(['tail', 'cli.poison', '--from-beginning', '-e', '--idle', '200ms', '-f', '%i'], {
        seed: {
          topic: 'cli.poison',
          messages: [
            { id: 'bad', raw: '{not json' },
            { id: 'good', data: 1 },
          ],
        },
      }),
    );
    expect(result).toMatchObject({ code: 0, stdout: 'good\n' });
    expect(result.stderr).toMatch(/invalid message on cli\.poison \(attempt 1\): /);
  });

  test('topics list --json prints an array; health --json the HealthStatus with ready and subscriptions', async () => {
    const listed = await finished(launch(['topics', 'list', '--json'], { seed: seeded }));
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([topic]);
    const health = await finished(launch(['health', '--json']));
    expect(health.code).toBe(0);
    expect(JSON.parse(health.stdout)).toMatchObject({ ok: true, ready: true, backend: 'memory', subscriptions: [] });
    const created = await finished(launch(['topics', 'create', 'cli.json', '--json']));
    expect(JSON.parse(created.stdout)).toEqual({ created: 'cli.json' });
  });
});

describe('dlq on memory: errors printed once', () => {
  const letter = (id: string, error: { message: string; class: string; code?: string }) => ({
    id,
    data: { id },
    headers: {
      'dlq-original-topic': 'cli.orders',
      'dlq-group': 'billing',
      'dlq-reason': 'exhausted',
      'dlq-error-message': error.message,
      'dlq-error-class': error.class,
      ...(error.code ? { 'dlq-error-code': error.code } : {}),
      'dlq-attempts': '3',
      'dlq-first-failure-at': '2026-11-30T08:00:00.000Z',
      'dlq-last-failure-at': '2026-11-30T08:00:05.000Z',
    },
  });
  const seed = {
    topic: 'cli.orders.dlq',
    messages: [
      letter('d1', { message: 'Error: boom', class: 'Error' }),
      letter('d2', {
        message: 'EventportError: payment service did not answer',
        class: 'EventportError',
        code: 'TIMEOUT',
      }),
    ],
  };

  test('dlq list shows each error as CODE: message (or Class: message), never "Error: Error: boom"', async () => {
    const text = await finished(launch(['dlq', 'list', 'cli.orders'], { seed }));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/exhausted after 3 attempt\(s\): Error: boom/);
    expect(text.stdout).toMatch(/exhausted after 3 attempt\(s\): TIMEOUT: payment service did not answer/);
    expect(text.stdout).not.toMatch(/Error: Error|EventportError: EventportError/);
    expect(text.stderr).toMatch(/2 dead letter\(s\) for cli\.orders/);
    const json = await finished(launch(['dlq', 'list', 'cli.orders', '--json'], { seed }));
    const letters = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(letters[0]).toMatchObject({
      id: 'd1',
      topic: 'cli.orders',
      reason: 'exhausted',
      attempts: 3,
      group: 'billing',
      error: { class: 'Error', message: 'boom' },
      firstFailureAt: '2026-11-30T08:00:00.000Z',
    });
    expect(letters[1].error).toEqual({
      class: 'EventportError',
      code: 'TIMEOUT',
      message: 'payment service did not answer',
    });
  });

  test('dlq replay --json prints what it replayed', async () => {
    const result = await finished(launch(['dlq', 'replay', 'cli.orders', '--json'], { seed }));
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ replayed: 2, skipped: 0 });
    expect(result.stderr).toMatch(/replayed 2/);
  });
});

describe('the first Ctrl-C (or SIGTERM) stops every command', () => {
  const waitFor = async (condition: () => boolean) => expect(await eventually(condition, 10_000)).toBe(true);

  test.each<[NodeJS.Signals, number]>([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ])('publish from stdin stops reading at %s, finishes what it sent and exits %i', async (signal, code) => {
    const publishing = launch(['publish', 'cli.stdin', '-'], { stdin: 'open' });
    publishing.child.stdin?.write('{"n":1}\n{"n":2}\n');
    await waitFor(() => publishing.lines.length === 2);
    publishing.child.kill(signal);
    const result = await finished(publishing);
    expect(result.code).toBe(code);
    expect(result.stdout.trim().split('\n')).toHaveLength(2);
    expect(result.stderr).toMatch(/published 2/);
  });

  test.each<[string[], NodeJS.Signals, number]>([
    [['health'], 'SIGINT', 130],
    [['topics', 'list'], 'SIGTERM', 143],
    [['topics', 'create', 'x'], 'SIGINT', 130],
    [['topics', 'delete', 'x'], 'SIGINT', 130],
    [['tail', 'x'], 'SIGINT', 130],
    [['dlq', 'list', 'x'], 'SIGTERM', 143],
    [['dlq', 'replay', 'x'], 'SIGINT', 130],
  ])('%j on a backend that never answers stops at %s with %i', async (args, signal, code) => {
    const running = launch(['--backend', 'hang', ...args]);
    // Started and waiting (module loading done) before the signal.
    await sleep(800);
    expect(running.child.exitCode).toBeNull();
    const sent = Date.now();
    running.child.kill(signal);
    const result = await finished(running);
    expect(result.code).toBe(code);
    expect(Date.now() - sent).toBeLessThan(4_000);
  });

  test('tail | head: once the reader is gone (EPIPE), tail stops as after Ctrl-C and exits 0', async () => {
    const tailing = launch(['tail', 'cli.pipe', '--from-beginning', '-f', '%i'], {
      seed: { topic: 'cli.pipe', live: { count: 200, everyMs: 20 } },
    });
    await waitFor(() => tailing.lines.length >= 3);
    tailing.child.stdout?.destroy();
    expect(await tailing.exited).toBe(0);
  });

  test('tail on memory: Ctrl-C acks what was printed and exits 130', async () => {
    const tailing = launch(['tail', 'cli.ctrl-c', '--from-beginning', '-f', '%i'], {
      seed: { topic: 'cli.ctrl-c', messages: [{ id: 'a' }, { id: 'b' }] },
    });
    await waitFor(() => tailing.lines.length === 2);
    tailing.child.kill('SIGINT');
    expect(await finished(tailing)).toMatchObject({ code: 130, stdout: 'a\nb\n' });
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
    // On RabbitMQ messages published before the group's queue exists are not kept for it: publish once
    // the broker shows the group (a fixed wait was too short on a busy machine).
    const probe = await createAdapter(backend, {});
    const joined = await eventually(
      async () => (await probe.listGroups(topic).catch((): string[] => [])).includes('cli-tail'),
      30_000,
      100,
    );
    await probe.disconnect();
    expect(joined).toBe(true);
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
    expect(received[0]).toMatchObject({
      topic,
      key: 'k1',
      headers: { 'x-from': 'cli' },
      attempt: 1,
      group: 'cli-tail',
    });
    // The CloudEvents type defaults to the topic.
    expect(received[0].type).toBe(topic);
    // The broker position of each delivery.
    expect(Object.keys(received[0].meta ?? {}).length).toBeGreaterThan(0);
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

  test('--url instead of the env var; -e drains a group and exits; --since where the backend can replay', async () => {
    const { REDIS_URL, RABBITMQ_URL } = env as Record<string, string>;
    const url = backend === 'redis-streams' ? REDIS_URL : RABBITMQ_URL;
    // Empty env vars count as unset: only --url says where the broker is.
    const health = await eventport(['health', '--url', url], {
      env: { EVENT_TYPE: backend, REDIS_URL: '', RABBITMQ_URL: '' },
    });
    expect(health.code).toBe(0);
    expect(JSON.parse(health.stdout)).toMatchObject({ ok: true, ready: true, backend });

    const name = `${topic}-end`;
    // The group exists once a tail has subscribed with it; the topic is empty, so -e ends it.
    const joined = await eventport(['tail', name, '--group', 'cli-end', '-e', '--idle', '200ms'], { env });
    expect(joined).toMatchObject({ code: 0, stdout: '' });
    const published = await eventport(['publish', name, '-'], { env, input: '{"n":1}\n{"n":2}\n{"n":3}\n' });
    const ids = published.stdout.trim().split('\n');
    const drained = await eventport(['tail', name, '--group', 'cli-end', '-e', '--idle', '1s', '--json'], { env });
    expect(drained.code).toBe(0);
    const lines = drained.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.id)).toEqual(ids);
    expect(lines.every((line) => line.attempt === 1 && line.group === 'cli-end')).toBe(true);

    const probe = await createAdapter(backend, {});
    const { replayFromStart } = probe.capabilities;
    await probe.disconnect();
    const since = await eventport(['tail', name, '--since', '1h', '-e', '--idle', '1s', '-f', '%i'], { env });
    if (replayFromStart) {
      expect(since).toMatchObject({ code: 0, stdout: `${ids.join('\n')}\n` });
    } else {
      expect(since.code).toBe(1);
      expect(since.stderr).toMatch(/UNSUPPORTED: --since: rabbitmq cannot replay retained messages/);
    }
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

/** kcat and mill leave nothing behind; neither does a tail without --group, on any network backend. */
describe.each(['redis-streams', 'rabbitmq', 'kafka', 'pubsub', 'kinesis', 'nats'])(
  'tail on %s without --group',
  (backend) => {
    test('prints what arrives, and the broker is left with the groups it had', async () => {
      const topic = `cli-ephemeral-${backend}-${randomUUID().slice(0, 8)}`;
      const adapter = await createAdapter(backend, {});
      let tailing: ReturnType<typeof tail> | undefined;
      try {
        const kept = await adapter.subscribe(topic, () => undefined, { group: 'cli-kept' });
        await kept.close();
        const before = (await adapter.listGroups(topic)).sort();
        expect(before).toContain('cli-kept');

        tailing = tail([topic], { EVENT_TYPE: backend });
        // Joining takes a moment on some brokers, and a throwaway group keeps nothing published before it
        // joined: publish until the tail shows one.
        const deadline = Date.now() + 60_000;
        while (tailing.lines.length === 0 && Date.now() < deadline) {
          await adapter.publish({ topic, data: { at: Date.now() } });
          await sleep(500);
        }
        expect(tailing.lines.length).toBeGreaterThan(0);
        const { group } = JSON.parse(tailing.lines[0] as string);
        expect(group).toMatch(/^eventport-tail-/);
        tailing.child.kill('SIGINT');
        expect(await tailing.exited).toBe(130);

        const groupsNow = async () => (await adapter.listGroups(topic)).sort();
        await eventually(async () => (await groupsNow()).join() === before.join(), 15_000, 250);
        expect(await groupsNow()).toEqual(before);
        expect(before).not.toContain(group);
        if (backend === 'kafka') await expectNothingCommitted(adapter, topic, group);
      } finally {
        if (tailing?.child.exitCode === null) tailing.child.kill('SIGKILL');
        if (adapter.capabilities.topicAdmin) await adapter.deleteTopic(topic).catch(() => undefined);
        await adapter.disconnect();
      }
    }, 120_000);
  },
);

/**
 * librdkafka's mock serves no ListGroups, so on it listGroups sees only this process's groups: ask the
 * broker about the tail's group (default id `<group>.<topic>`) directly, beside one that did commit.
 */
async function expectNothingCommitted(adapter: EventAdapter, topic: string, group: string): Promise<void> {
  const { kafka } = adapter.native() as { kafka: import('kafkajs').Kafka };
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsetsOf = async (groupId: string) =>
      (await admin.fetchOffsets({ groupId, topics: [topic] })).flatMap((entry) =>
        entry.partitions.map((partition) => partition.offset),
      );
    expect((await offsetsOf(`cli-kept.${topic}`)).some((offset) => offset !== '-1')).toBe(true);
    expect(new Set(await offsetsOf(`${group}.${topic}`))).toEqual(new Set(['-1']));
  } finally {
    await admin.disconnect();
  }
}
