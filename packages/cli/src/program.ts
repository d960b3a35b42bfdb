import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  createAdapter,
  type EventAdapter,
  type EventMessage,
  EventportError,
  type ReceivedMessage,
} from '@eventport/core';
import { listDeadLetters, replay } from '@eventport/dlq';
import { Command, CommanderError, Option } from 'commander';
import { parseDuration, parseFlag, parseTime, positiveInteger } from './arguments.js';
import { collectOption, resolveConnection } from './connection.js';
import { EXIT } from './exit.js';
import {
  compileFormat,
  FORMAT_PLACEHOLDERS,
  formatDeadLetter,
  formatMessage,
  type PrintableMessage,
  printError,
  progress,
} from './format.js';
import { TailStats } from './stats.js';

export { EXIT };

export interface CliIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Resolves when the user asks to stop (Ctrl-C / SIGTERM). */
  interrupted: Promise<void>;
}

interface GlobalOptions {
  backend?: string;
  url?: string;
  option: Record<string, unknown>;
  config?: string;
}

interface TailOptions {
  group?: string;
  fromBeginning?: boolean;
  since?: number;
  count?: number;
  exitAtEnd?: boolean;
  idle: number;
  format?: (message: PrintableMessage) => string;
  json?: boolean;
  stats?: boolean;
}

/** After the first Ctrl-C, what is left to do (closing the connection) gets this long. */
const DISCONNECT_AFTER_INTERRUPT_MS = 3_000;
/** Before the first message, --exit-at-end waits this many idle windows (joining a group can be slow). */
const FIRST_MESSAGE_IDLE_FACTOR = 5;

const INTERRUPTED = Symbol('interrupted');

const EXIT_CODES_HELP = `
Exit codes:
  0    done (tail: --count reached or, with --exit-at-end, the end of the topic)
  1    the operation failed (broker unreachable, NOT_FOUND, UNSUPPORTED, health not ok)
  2    usage: unknown command or flag, bad flag value, unreadable config file, invalid backend options
  130  stopped by SIGINT (Ctrl-C); 143 stopped by SIGTERM. The first signal drains, a second exits at once

Connection settings, lowest precedence first:
  backend  EVENT_TYPE < "backend" in the config file < --backend (default memory)
  options  the backend's env vars < "options" in the config file < --url < -X key=value
  config   --config FILE or EVENTPORT_CONFIG: { "backend": "redis-streams", "options": { "url": "redis://..." } }
`;

/** Builds the `eventport` program; `run` parses argv and resolves with the exit code. */
export function buildProgram(io: CliIO): { run(argv: string[]): Promise<number> } {
  let exitCode: number = EXIT.ok;
  const stop = new AbortController();
  const stopped: Promise<typeof INTERRUPTED> = io.interrupted.then(() => {
    stop.abort();
    return INTERRUPTED;
  });

  const program = new Command('eventport')
    .description('Publish, tail and administer events on any eventport backend')
    .addOption(new Option('-b, --backend <type>', 'backend (default: EVENT_TYPE, else memory)').env('EVENT_TYPE'))
    .option(
      '--url <url>',
      "the backend's address: redis-streams and rabbitmq url, kafka brokers (host:port,...), nats servers, kinesis endpoint, pubsub emulatorHost",
    )
    .option(
      '-X, --option <key=value>',
      'any backend option (repeatable; JSON values are parsed, "a.b=1" sets a nested one)',
      collectOption,
      {} as Record<string, unknown>,
    )
    .addOption(
      new Option('-c, --config <file>', 'JSON file { "backend": ..., "options": { ... } }').env('EVENTPORT_CONFIG'),
    )
    .version(versionLine(), '-V, --version', 'print the version')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });

  const openAdapter = async (): Promise<EventAdapter> => {
    const options = program.opts<GlobalOptions>();
    const connection = await resolveConnection({
      backend: options.backend,
      backendFromFlag: program.getOptionValueSource('backend') === 'cli',
      url: options.url,
      option: options.option,
      config: options.config,
    });
    return createAdapter(connection.backend, connection.overrides);
  };

  /** Runs `work` with an adapter, then disconnects (which drains subscriptions). */
  const withAdapter = async (work: (adapter: EventAdapter) => Promise<void>): Promise<void> => {
    const adapter = await openAdapter();
    try {
      await work(adapter);
    } finally {
      const disconnected = adapter.disconnect();
      await (stop.signal.aborted ? within(disconnected, DISCONNECT_AFTER_INTERRUPT_MS) : disconnected);
    }
  };

  /** Waits for `operation` unless the user stops first (exit 130); for calls with nothing to drain. */
  const untilInterrupted = async <T>(operation: Promise<T>): Promise<T | typeof INTERRUPTED> => {
    operation.catch(() => undefined);
    const outcome: T | typeof INTERRUPTED = await Promise.race([operation, stopped]);
    if (outcome === INTERRUPTED) exitCode = EXIT.interrupted;
    return outcome;
  };

  const jsonOption = (description: string) => new Option('--json', description);

  program
    .command('publish')
    .description('publish one message, or one per stdin line when data is "-" or omitted')
    .argument('<topic>')
    .argument('[data]', 'JSON (or plain text) payload; "-" reads stdin')
    .option('-k, --key <key>', 'ordering / partition key')
    .option('-H, --header <name=value>', 'header (repeatable)', collectHeader, {} as Record<string, string>)
    .addOption(jsonOption('print each published message as a JSON line instead of its id'))
    .addHelpText(
      'after',
      '\nPrints the id of each message on stdout and "published N" on stderr. Ctrl-C stops reading stdin;\nthe message being sent is awaited (exit 130).',
    )
    .action(
      async (
        topic: string,
        data: string | undefined,
        options: { key?: string; header: Record<string, string>; json?: boolean },
      ) => {
        await withAdapter(async (adapter) => {
          const base = { topic, headers: options.header, ...(options.key ? { key: options.key } : {}) };
          const print = (message: EventMessage) =>
            io.stdout.write(options.json ? `${JSON.stringify(publishedJson(message))}\n` : `${message.id}\n`);
          if (data !== undefined && data !== '-') {
            print(await adapter.publish({ ...base, data: parsePayload(data) }));
            if (stop.signal.aborted) exitCode = EXIT.interrupted;
            return;
          }
          const report = progress(io.stderr, 'published');
          let count = 0;
          const lines = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY });
          const stopReading = () => lines.close();
          stop.signal.addEventListener('abort', stopReading, { once: true });
          try {
            for await (const line of lines) {
              if (stop.signal.aborted) break;
              if (line.trim() === '') continue;
              print(await adapter.publish({ ...base, data: parsePayload(line) }));
              report(++count);
            }
          } finally {
            stop.signal.removeEventListener('abort', stopReading);
            lines.close();
          }
          report(count, true);
          if (stop.signal.aborted) exitCode = EXIT.interrupted;
        });
      },
    );

  program
    .command('tail')
    .description('print messages as they arrive; each is acked after it is printed')
    .argument('<topic>')
    .option(
      '-g, --group <group>',
      'consumer group to join (default: a throwaway group, removed from the broker when tail exits)',
    )
    .option('--from-beginning', 'start at the oldest retained message (new groups; backends with replayFromStart)')
    .option(
      '--since <time>',
      'only messages published at or after TIME: ISO date-time, epoch ms, or a duration ago (15m, 2h, 1d); reads from the beginning and skips older ones',
      parseTime('--since'),
    )
    .option('-n, --count <n>', 'exit after n messages', parseFlag(positiveInteger, '--count'))
    .option('-e, --exit-at-end', 'exit 0 once no message arrived for the idle window (see --idle)')
    .option(
      '--idle <duration>',
      'idle window of --exit-at-end (500ms, 2s, ...); five times as long before the first message',
      parseDuration('--idle'),
      1_000,
    )
    .addOption(
      new Option('-f, --format <format>', 'print each message with placeholders (see below)')
        .argParser(compileFormat)
        .conflicts('json'),
    )
    .addOption(jsonOption('one JSON object per line (NDJSON), with attempt, group and the broker position (meta)'))
    .option('--stats', 'report "received N (R msg/s)" on stderr every second (default when stderr is a terminal)')
    .option('--no-stats', 'no count and rate reports')
    .addHelpText(
      'after',
      `\nFormat placeholders (--format):\n${Object.entries(FORMAT_PLACEHOLDERS)
        .map(([name, meaning]) => `  %${name}  ${meaning}`)
        .join(
          '\n',
        )}\n  Escapes \\n \\t \\r \\\\. Each message ends with a newline unless the format ends with one.\n  Example: eventport tail orders -f '%t %k %s'\n\n--exit-at-end: the end is reached when no message arrived for the idle window (--idle, default 1 s),\nwaiting five windows before the first message. Ctrl-C stops, acks what was printed, exits 130.`,
    )
    .action(async (topic: string, options: TailOptions) => {
      await withAdapter(async (adapter) => {
        await tail(adapter, topic, options);
      });
    });

  const tail = async (adapter: EventAdapter, topic: string, options: TailOptions): Promise<void> => {
    const { since } = options;
    const replays = options.fromBeginning === true || since !== undefined;
    if (replays && !adapter.capabilities.replayFromStart) {
      throw new EventportError(
        'UNSUPPORTED',
        `${since !== undefined ? '--since' : '--from-beginning'}: ${adapter.backend} cannot replay retained messages (capabilities.replayFromStart is false); a new group sees only what is published after it exists`,
      );
    }
    const render =
      options.format ?? ((message: PrintableMessage) => `${formatMessage(message, options.json === true)}\n`);
    const stderrIsTerminal = (io.stderr as NodeJS.WriteStream).isTTY === true;
    const stdoutIsTerminal = (io.stdout as NodeJS.WriteStream).isTTY === true;
    const stats = (options.stats ?? stderrIsTerminal) ? new TailStats(io.stderr) : undefined;
    let printed = 0;
    let skipped = 0;
    let deliveries = 0;
    let lastActivity = performance.now();
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const toTerminal = (write: () => void) => {
      if (stdoutIsTerminal) stats?.clearLine();
      write();
    };

    // Without --group, tail looks on without joining anything: the group goes when tail does.
    const throwaway = options.group === undefined && adapter.capabilities.ephemeralGroups;
    if (options.group === undefined && !throwaway) {
      io.stderr.write(
        `note: ${adapter.backend} cannot remove a group from the broker (capabilities.ephemeralGroups is false); this tail's group stays behind\n`,
      );
    }
    const subscribing = adapter.subscribe(
      topic,
      (message: ReceivedMessage) => {
        lastActivity = performance.now();
        if (options.count !== undefined && printed >= options.count) {
          throw new EventportError('CLOSED', 'tail is stopping');
        }
        deliveries++;
        stats?.received();
        if (since !== undefined && message.timestamp < since) {
          skipped++;
          return;
        }
        toTerminal(() => io.stdout.write(render(message)));
        printed++;
        if (printed === options.count) finish();
      },
      {
        group: options.group ?? `eventport-tail-${process.pid}-${Date.now().toString(36)}`,
        ephemeral: throwaway,
        fromBeginning: replays,
        concurrency: 1,
        onInvalid: (error, delivery) => {
          lastActivity = performance.now();
          deliveries++;
          stats?.clearLine();
          io.stderr.write(`invalid message on ${delivery.topic} (attempt ${delivery.attempt}): ${error.message}\n`);
        },
      },
    );
    const subscription = await untilInterrupted(subscribing);
    if (subscription === INTERRUPTED) {
      void subscribing.then((late) => late.close()).catch(() => undefined);
      return;
    }
    stats?.start();
    lastActivity = performance.now();
    let idleCheck: NodeJS.Timeout | undefined;
    if (options.exitAtEnd) {
      idleCheck = setInterval(
        () => {
          const window = deliveries > 0 ? options.idle : options.idle * FIRST_MESSAGE_IDLE_FACTOR;
          if (performance.now() - lastActivity >= window) finish();
        },
        Math.max(10, Math.min(250, options.idle / 4)),
      );
    }
    const outcome = await Promise.race([finished, stopped]);
    clearInterval(idleCheck);
    await subscription.close();
    stats?.stop();
    if (skipped > 0) {
      io.stderr.write(
        `skipped ${skipped} message(s) published before ${new Date(since as number).toISOString()} (--since)\n`,
      );
    }
    if (outcome === INTERRUPTED) exitCode = EXIT.interrupted;
  };

  const topics = program.command('topics').description('list, create or delete topics');
  topics
    .command('list')
    .addOption(jsonOption('print a JSON array of names'))
    .action((options: { json?: boolean }) =>
      withAdapter(async (adapter) => {
        const names = await untilInterrupted(adapter.listTopics());
        if (names === INTERRUPTED) return;
        io.stdout.write(options.json ? `${JSON.stringify(names)}\n` : names.map((name) => `${name}\n`).join(''));
      }),
    );
  topics
    .command('create')
    .argument('<topic>')
    .option(
      '-p, --partitions <n>',
      'partitions (Kafka) or shards (Kinesis)',
      parseFlag(positiveInteger, '--partitions'),
    )
    .addOption(jsonOption('print {"created": topic}'))
    .action((topic: string, options: { partitions?: number; json?: boolean }) =>
      withAdapter(async (adapter) => {
        const done = await untilInterrupted(
          adapter.createTopic(topic, options.partitions ? { partitions: options.partitions } : {}),
        );
        if (done === INTERRUPTED) return;
        io.stdout.write(options.json ? `${JSON.stringify({ created: topic })}\n` : `created ${topic}\n`);
      }),
    );
  topics
    .command('delete')
    .argument('<topic>')
    .addOption(jsonOption('print {"deleted": topic}'))
    .action((topic: string, options: { json?: boolean }) =>
      withAdapter(async (adapter) => {
        const done = await untilInterrupted(adapter.deleteTopic(topic));
        if (done === INTERRUPTED) return;
        io.stdout.write(options.json ? `${JSON.stringify({ deleted: topic })}\n` : `deleted ${topic}\n`);
      }),
    );

  const dlq = program.command('dlq').description('inspect and replay dead letters of a topic');
  dlq
    .command('list')
    .argument('<topic>', 'the original topic (its dead letters are on <topic>.dlq)')
    .option('-l, --limit <n>', 'at most n', parseFlag(positiveInteger, '--limit'), 100)
    .addOption(jsonOption('one JSON object per line, with reason, attempts and error'))
    .action((topic: string, options: { limit: number; json?: boolean }) =>
      withAdapter(async (adapter) => {
        const letters = await untilInterrupted(listDeadLetters(adapter, topic, { limit: options.limit }));
        if (letters === INTERRUPTED) return;
        for (const letter of letters) io.stdout.write(`${formatDeadLetter(letter, options.json === true)}\n`);
        io.stderr.write(`${letters.length} dead letter(s) for ${topic}\n`);
      }),
    );
  dlq
    .command('replay')
    .argument('<topic>')
    .option('-l, --limit <n>', 'at most n', parseFlag(positiveInteger, '--limit'))
    .addOption(jsonOption('print {"replayed": n, "skipped": n}'))
    .addHelpText('after', '\nCtrl-C stops after the letter being replayed; the others stay on <topic>.dlq (exit 130).')
    .action((topic: string, options: { limit?: number; json?: boolean }) =>
      withAdapter(async (adapter) => {
        const report = progress(io.stderr, 'replayed');
        let examined = 0;
        const replaying = replay(adapter, topic, {
          ...(options.limit ? { limit: options.limit } : {}),
          // After Ctrl-C no further letter is replayed; the scan ends within its idle window.
          filter: () => {
            examined++;
            return !stop.signal.aborted;
          },
          onProgress: ({ replayed }) => report(replayed),
        });
        let result = await untilInterrupted(replaying);
        // Nothing was in flight yet: stop at once. Otherwise let the letter being replayed finish.
        if (result === INTERRUPTED && examined === 0) return;
        if (result === INTERRUPTED) result = await replaying;
        report(result.replayed, true);
        if (stop.signal.aborted) {
          io.stderr.write(`interrupted: the remaining dead letters stay on ${topic}.dlq\n`);
        } else if (result.skipped > 0) {
          io.stderr.write(`skipped ${result.skipped} (over the limit)\n`);
        }
        if (options.json) io.stdout.write(`${JSON.stringify(result)}\n`);
      }),
    );

  program
    .command('health')
    .description('check that the backend answers (within its health deadline, 5 s by default)')
    .addOption(jsonOption('the HealthStatus object (the default output; accepted for uniformity)'))
    .addHelpText('after', '\nPrints { ok, ready, backend, latencyMs, error?, subscriptions }; exits 1 unless ok.')
    .action(() =>
      withAdapter(async (adapter) => {
        const health = await untilInterrupted(adapter.health());
        if (health === INTERRUPTED) return;
        io.stdout.write(`${JSON.stringify(health)}\n`);
        if (!health.ok) exitCode = EXIT.failure;
      }),
    );

  return {
    async run(argv: string[]): Promise<number> {
      try {
        await program.parseAsync(argv, { from: 'user' });
        return exitCode;
      } catch (error) {
        if (error instanceof CommanderError) {
          return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
        }
        printError(io.stderr, error);
        if (stop.signal.aborted && exitCode === EXIT.interrupted) return EXIT.interrupted;
        return error instanceof EventportError && (error.code === 'INVALID_ARGUMENT' || error.code === 'INVALID_CONFIG')
          ? EXIT.usage
          : EXIT.failure;
      }
    },
  };
}

function versionLine(): string {
  const versionOf = (file: string) => {
    try {
      return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
    } catch {
      return 'unknown';
    }
  };
  const cli = versionOf(path.join(__dirname, '..', 'package.json'));
  let core = 'unknown';
  try {
    core = versionOf(require.resolve('@eventport/core/package.json'));
  } catch {
    // Not resolvable from here (bundled): leave it unknown.
  }
  return `eventport ${cli} (@eventport/core ${core}, node ${process.version})`;
}

/** What `publish --json` prints for each message the broker accepted. */
function publishedJson(message: EventMessage): Record<string, unknown> {
  return {
    id: message.id,
    topic: message.topic,
    key: message.key,
    type: message.type,
    headers: message.headers,
    timestamp: message.timestamp,
  };
}

async function within(operation: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    operation.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

function collectHeader(pair: string, headers: Record<string, string>): Record<string, string> {
  const separator = pair.indexOf('=');
  if (separator <= 0) throw new EventportError('INVALID_ARGUMENT', `--header expects name=value (got "${pair}")`);
  return { ...headers, [pair.slice(0, separator)]: pair.slice(separator + 1) };
}

/** JSON when it parses, otherwise the text itself, so `eventport publish t hello` just works. */
function parsePayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
