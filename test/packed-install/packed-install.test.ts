import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';

/**
 * What a user gets: the packages as `npm pack` makes them, installed with the client libraries npm
 * picks today into an application outside the monorepo (CommonJS, ES modules, TypeScript with
 * node16 and bundler resolution, an esbuild bundle), then once more with the oldest majors the peer
 * ranges promise. Every backend publishes and consumes through the installed packages, and the
 * decorators and the CLI run on their dependencies that are ES modules only (cockatiel, commander).
 */
const repo = path.resolve(__dirname, '../..');
const BACKENDS = ['memory', 'redis-streams', 'rabbitmq', 'kafka', 'kinesis', 'pubsub', 'nats'];
// npm's latest of each client. @google-cloud/pubsub 6.3.2 depends on @google-cloud/pubsub-api 0.7,
// which the registry here does not serve, so the newest installable, 6.3.0, stands in for it.
const LATEST_CLIENTS = [
  'ioredis@latest',
  'amqplib@latest',
  'kafkajs@latest',
  '@aws-sdk/client-kinesis@latest',
  '@google-cloud/pubsub@6.3.0',
  '@nats-io/transport-node@latest',
  '@nats-io/jetstream@latest',
  'pg@latest',
  'zod@latest',
  'prom-client@latest',
  '@opentelemetry/api@latest',
];
const OLDEST_CLIENTS = [
  'ioredis@5.4.0',
  'amqplib@0.10.4',
  'kafkajs@2.2.4',
  '@aws-sdk/client-kinesis@3.600.0',
  '@google-cloud/pubsub@5.0.0',
  '@nats-io/transport-node@3.0.0',
  '@nats-io/jetstream@3.0.0',
  'pg@8.11.0',
  'zod@4.1.0',
  'prom-client@15.0.0',
  '@opentelemetry/api@1.9.0',
];
// No skipLibCheck: the declarations we publish, and the client libraries' declarations they load, are checked too.
const STRICT_TSC = ['tsc', '--noEmit', '--strict', '--target', 'es2022', '--types', 'node'];
const PACKAGES = readdirSync(path.join(repo, 'packages')).sort();

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync(command, args, {
      cwd,
      env: {
        ...process.env,
        KINESIS_CHECKPOINT_URL: process.env.KINESIS_CHECKPOINT_URL ?? 'redis://127.0.0.1:6379',
        ...env,
      },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    // tsc reports on stdout: without it a failure says only which command failed.
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${(error as Error).message}\n${stdout ?? ''}${stderr ?? ''}`.trim());
  }
}

function makeApp(root: string, name: string, tarballs: string[], clients: string[], extra: string[] = []): string {
  const app = path.join(root, name);
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  for (const file of ['roundtrip.cjs', 'roundtrip.mjs', 'resilience.cjs', 'typed.ts', 'bundled.mjs']) {
    writeFileSync(path.join(app, file), require('node:fs').readFileSync(path.join(__dirname, file)));
  }
  // No --legacy-peer-deps and no --force: a peer range that excludes what npm picks fails here, as it would for a user.
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs, ...clients, ...extra], app);
  return app;
}

function roundtrips(app: string): Array<Record<string, unknown>> {
  return run('node', ['roundtrip.cjs', ...BACKENDS], app)
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

describe('packed packages installed into a fresh application', () => {
  jest.setTimeout(15 * 60_000);
  let root: string;
  let tarballs: string[];

  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'eventport-packed-'));
    const packed = path.join(root, 'tarballs');
    mkdirSync(packed);
    run(
      'npm',
      ['pack', '--silent', '--pack-destination', packed, ...PACKAGES.flatMap((name) => ['-w', `packages/${name}`])],
      repo,
    );
    tarballs = readdirSync(packed).map((file) => path.join(packed, file));
    expect(tarballs).toHaveLength(PACKAGES.length);
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  describe("with npm's latest client libraries", () => {
    let app: string;
    beforeAll(() => {
      app = makeApp(root, 'latest-app', tarballs, LATEST_CLIENTS, [
        'typescript@latest',
        'esbuild@latest',
        '@types/node@latest',
        // pg ships no types; the outbox, inbox and event-store READMEs tell TypeScript users to add these.
        '@types/pg@latest',
      ]);
    });

    test('CommonJS: every backend publishes and consumes; errors are one EventportError class', () => {
      const results = roundtrips(app);
      console.log(`packed install, latest clients:\n${results.map((result) => JSON.stringify(result)).join('\n')}`);
      for (const result of results) {
        expect(result).toMatchObject({ received: 3, healthy: true, sameErrorClass: true });
      }
    });

    test('CommonJS: the decorators, the outbox relay and the CLI run on cockatiel and commander (ES modules only)', () => {
      expect(JSON.parse(run('node', ['resilience.cjs'], app))).toEqual({
        relayErrors: 1,
        handlerRuns: 2,
        data: { n: 1 },
        circuit: 'closed',
      });
      // The bin npm linked, as an npm script runs it: `#!/usr/bin/env node`, the node first on PATH.
      const eventport = path.join(app, 'node_modules', '.bin', 'eventport');
      const version = run(eventport, ['--version'], app);
      expect(version).toMatch(/^eventport \d+\.\d+\.\d+ \(@eventport\/core \d/);
      expect(version).toContain(`node ${process.version})`);
      expect(JSON.parse(run(eventport, ['--backend', 'memory', 'health'], app))).toMatchObject({
        ok: true,
        backend: 'memory',
      });
    });

    test('ES module with a static backend registration', () => {
      expect(JSON.parse(run('node', ['roundtrip.mjs'], app))).toEqual({ esm: [{ esm: true }] });
    });

    test.each([
      ['node16', ['--module', 'node16', '--moduleResolution', 'node16']],
      ['bundler', ['--module', 'preserve', '--moduleResolution', 'bundler']],
    ])('TypeScript, moduleResolution %s, type-checks against the installed types', (_name, flags) => {
      run('npx', [...STRICT_TSC, ...flags, 'typed.ts'], app);
    });

    test('an esbuild bundle finds its statically registered backend', () => {
      // An ES module bundle of CommonJS client libraries needs `require`: the banner esbuild documents for it.
      const banner =
        "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";
      run(
        'npx',
        [
          'esbuild',
          'bundled.mjs',
          '--bundle',
          '--platform=node',
          '--format=esm',
          banner,
          '--outfile=bundle.mjs',
          '--log-level=error',
        ],
        app,
      );
      const elsewhere = mkdtempSync(path.join(tmpdir(), 'eventport-bundle-'));
      try {
        writeFileSync(
          path.join(elsewhere, 'bundle.mjs'),
          require('node:fs').readFileSync(path.join(app, 'bundle.mjs')),
        );
        expect(JSON.parse(run('node', ['bundle.mjs'], elsewhere))).toEqual({
          bundledHealth: true,
          backend: 'redis-streams',
        });
      } finally {
        rmSync(elsewhere, { recursive: true, force: true });
      }
    });
  });

  test('TypeScript: a Kinesis app without the optional checkpoint peers (pg, ioredis) type-checks', () => {
    const coreAndKinesis = tarballs.filter((file) => /eventport-(core|kinesis)-\d/.test(path.basename(file)));
    expect(coreAndKinesis).toHaveLength(2);
    const app = makeApp(
      root,
      'kinesis-only-app',
      coreAndKinesis,
      ['@aws-sdk/client-kinesis@latest', 'zod@latest'],
      ['typescript@latest', '@types/node@latest'],
    );
    writeFileSync(
      path.join(app, 'kinesis.ts'),
      "import { createKinesisAdapter, MemoryCheckpointStore } from '@eventport/kinesis';\nexport const made = [createKinesisAdapter, new MemoryCheckpointStore()];\n",
    );
    run('npx', [...STRICT_TSC, '--module', 'node16', '--moduleResolution', 'node16', 'kinesis.ts'], app);
  });

  test('with the oldest client majors the peer ranges promise, every backend publishes and consumes', () => {
    const app = makeApp(root, 'oldest-app', tarballs, OLDEST_CLIENTS);
    const results = roundtrips(app);
    console.log(`packed install, oldest clients:\n${results.map((result) => JSON.stringify(result)).join('\n')}`);
    for (const result of results) expect(result).toMatchObject({ received: 3, healthy: true, sameErrorClass: true });
  });
});
