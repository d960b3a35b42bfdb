import { createInterface } from 'node:readline';
import { createAdapter, describeError, type EventAdapter, EventportError, type ReceivedMessage } from '@eventport/core';
import { listDeadLetters, replay } from '@eventport/dlq';
import { Command, CommanderError, Option } from 'commander';
import { parseFlag, positiveInteger } from './arguments.js';
import { formatDeadLetter, formatMessage, printError, progress } from './format.js';

/** Exit codes, documented in the README: scripts branch on them. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

export interface CliIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Resolves when the user asks to stop (Ctrl-C / SIGTERM). */
  interrupted: Promise<void>;
}

interface GlobalOptions {
  backend?: string;
}

/** Builds the `eventport` program; `run` parses argv and resolves with the exit code. */
export function buildProgram(io: CliIO): { run(argv: string[]): Promise<number> } {
  let exitCode: number = EXIT.ok;
  const program = new Command('eventport')
    .description('Publish, tail and administer events on any eventport backend')
    .addOption(new Option('-b, --backend <type>', 'backend (default: EVENT_TYPE, else memory)').env('EVENT_TYPE'))
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });

  const withAdapter = async (work: (adapter: EventAdapter) => Promise<void>) => {
    const { backend } = program.opts<GlobalOptions>();
    const adapter = await createAdapter(backend);
    try {
      await work(adapter);
    } finally {
      await adapter.disconnect();
    }
  };

  program
    .command('publish')
    .description('publish one message, or one per stdin line when data is "-" or omitted')
    .argument('<topic>')
    .argument('[data]', 'JSON (or plain text) payload; "-" reads stdin')
    .option('-k, --key <key>', 'ordering / partition key')
    .option('-H, --header <name=value>', 'header (repeatable)', collectHeader, {} as Record<string, string>)
    .action(
      async (topic: string, data: string | undefined, options: { key?: string; header: Record<string, string> }) => {
        await withAdapter(async (adapter) => {
          const base = { topic, headers: options.header, ...(options.key ? { key: options.key } : {}) };
          if (data !== undefined && data !== '-') {
            const message = await adapter.publish({ ...base, data: parsePayload(data) });
            io.stdout.write(`${message.id}\n`);
            return;
          }
          const report = progress(io.stderr, 'published');
          let count = 0;
          for await (const line of createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY })) {
            if (line.trim() === '') continue;
            const message = await adapter.publish({ ...base, data: parsePayload(line) });
            io.stdout.write(`${message.id}\n`);
            report(++count);
          }
          report(count, true);
        });
      },
    );

  program
    .command('tail')
    .description('print messages as they arrive; each is acked after it is printed')
    .argument('<topic>')
    .option(
      '-g, --group <group>',
      'consumer group (default: a new one per run, so tail never takes messages from your services)',
    )
    .option('--from-beginning', 'start at the oldest retained message (new groups only)')
    .option('--json', 'one JSON object per line, for piping')
    .option('-n, --count <n>', 'exit after n messages', parseFlag(positiveInteger, '--count'))
    .action(
      async (topic: string, options: { group?: string; fromBeginning?: boolean; json?: boolean; count?: number }) => {
        await withAdapter(async (adapter) => {
          let printed = 0;
          let reachedCount: () => void = () => undefined;
          const enough = new Promise<void>((resolve) => {
            reachedCount = resolve;
          });
          const subscription = await adapter.subscribe(
            topic,
            (message: ReceivedMessage) => {
              if (options.count !== undefined && printed >= options.count)
                throw new EventportError('CLOSED', 'tail is stopping');
              io.stdout.write(`${formatMessage(message, options.json === true)}\n`);
              printed++;
              if (printed === options.count) reachedCount();
            },
            {
              group: options.group ?? `eventport-tail-${process.pid}-${Date.now().toString(36)}`,
              fromBeginning: options.fromBeginning === true,
              concurrency: 1,
              onInvalid: (error, delivery) => {
                io.stderr.write(`invalid message on ${delivery.topic}: ${error.message}\n`);
              },
            },
          );
          const interrupted = io.interrupted.then(() => true);
          const stoppedByUser = await Promise.race([enough.then(() => false), interrupted]);
          await subscription.close();
          if (stoppedByUser) exitCode = EXIT.interrupted;
        });
      },
    );

  const topics = program.command('topics').description('list, create or delete topics');
  topics.command('list').action(() =>
    withAdapter(async (adapter) => {
      for (const topic of await adapter.listTopics()) io.stdout.write(`${topic}\n`);
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
    .action((topic: string, options: { partitions?: number }) =>
      withAdapter(async (adapter) => {
        await adapter.createTopic(topic, options.partitions ? { partitions: options.partitions } : {});
        io.stdout.write(`created ${topic}\n`);
      }),
    );
  topics
    .command('delete')
    .argument('<topic>')
    .action((topic: string) =>
      withAdapter(async (adapter) => {
        await adapter.deleteTopic(topic);
        io.stdout.write(`deleted ${topic}\n`);
      }),
    );

  const dlq = program.command('dlq').description('inspect and replay dead letters of a topic');
  dlq
    .command('list')
    .argument('<topic>', 'the original topic (its dead letters are on <topic>.dlq)')
    .option('-l, --limit <n>', 'at most n', parseFlag(positiveInteger, '--limit'), 100)
    .option('--json', 'one JSON object per line')
    .action((topic: string, options: { limit: number; json?: boolean }) =>
      withAdapter(async (adapter) => {
        const letters = await listDeadLetters(adapter, topic, { limit: options.limit });
        for (const letter of letters) io.stdout.write(`${formatDeadLetter(letter, options.json === true)}\n`);
        io.stderr.write(`${letters.length} dead letter(s) for ${topic}\n`);
      }),
    );
  dlq
    .command('replay')
    .argument('<topic>')
    .option('-l, --limit <n>', 'at most n', parseFlag(positiveInteger, '--limit'))
    .action((topic: string, options: { limit?: number }) =>
      withAdapter(async (adapter) => {
        const report = progress(io.stderr, 'replayed');
        const result = await replay(adapter, topic, {
          ...(options.limit ? { limit: options.limit } : {}),
          onProgress: ({ replayed }) => report(replayed),
        });
        report(result.replayed, true);
        if (result.skipped > 0) io.stderr.write(`skipped ${result.skipped} (filtered out or over the limit)\n`);
      }),
    );

  program
    .command('health')
    .description('check that the backend answers')
    .action(() =>
      withAdapter(async (adapter) => {
        const health = await adapter.health();
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
        printError(io.stderr, error instanceof EventportError ? error : new Error(describeError(error)));
        return error instanceof EventportError && error.code === 'INVALID_ARGUMENT' ? EXIT.usage : EXIT.failure;
      }
    },
  };
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
