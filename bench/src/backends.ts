import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { WireMode } from './raw/headers.js';
import type { BenchTarget } from './target.js';

/** Another library doing the same job on the same broker, compared on publish and publish→handler→ack. */
export interface PeerSpec {
  /** Its npm package: a devDependency of the bench, loaded only when the run gets to it. */
  pkg: string;
  /** Where its work differs from the SDK's in a way the numbers need (for the table's footnote). */
  note?: string;
  create(): Promise<BenchTarget>;
}

export interface BackendSpec {
  name: string;
  /** Where the broker is expected, for messages. */
  address(): string;
  /** Resolves true when the broker answers within `timeoutMs`. */
  probe(timeoutMs: number): Promise<boolean>;
  /** The raw client doing the same work as the adapter, with the SDK's headers or with none. */
  raw(mode: WireMode): Promise<BenchTarget>;
  peers: readonly PeerSpec[];
  /**
   * True where a message published to a topic nobody subscribed to is dropped instead of stored
   * (RabbitMQ exchange without a bound queue, Pub/Sub topic without a subscription): publish-only
   * runs then create the group first, so they measure a persisted publish.
   */
  publishNeedsGroup: boolean;
  /** Messages per run unless --messages says otherwise: sized so `npm run bench` stays within ~10 minutes. */
  defaultMessages: number;
}

export const REPO_ROOT = join(__dirname, '..', '..');

/** The local broker addresses of scripts/brokers/env.sh, for variables that are not set. */
export function applyLocalBrokerDefaults(env: NodeJS.ProcessEnv = process.env): void {
  const defaults: Record<string, string> = {
    REDIS_URL: 'redis://127.0.0.1:6379',
    RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672',
    PUBSUB_EMULATOR_HOST: '127.0.0.1:8085',
    GCP_PROJECT_ID: 'eventport-local',
    METADATA_SERVER_DETECTION: 'none',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:4568',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    KINESIS_CHECKPOINT_URL: 'redis://127.0.0.1:6379',
    NATS_URL: 'nats://127.0.0.1:4222',
  };
  for (const [name, value] of Object.entries(defaults)) {
    if (env[name] === undefined || env[name] === '') env[name] = value;
  }
  if (!env.KAFKA_SERVER) {
    try {
      const bootstrap = readFileSync(join(REPO_ROOT, '.brokers', 'kafka.bootstrap'), 'utf8')
        .split('\n')[0]
        ?.trim();
      if (bootstrap) env.KAFKA_SERVER = bootstrap;
    } catch {
      // No local Kafka mock: the kafka probe reports it unreachable.
    }
  }
}

function hostPort(value: string, defaultPort: number): { host: string; port: number } {
  const url = new URL(value.includes('://') ? value : `tcp://${value}`);
  return { host: url.hostname || '127.0.0.1', port: Number(url.port) || defaultPort };
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Any HTTP answer (even 404) means the server is up. */
function httpProbe(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.once('error', () => resolve(false));
    req.end();
  });
}

const env = (name: string): string => process.env[name] ?? '';
const kafkaBrokers = () =>
  env('KAFKA_SERVER')
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);

export const BACKENDS: Record<string, BackendSpec> = {
  'redis-streams': {
    name: 'redis-streams',
    address: () => hostPortText(env('REDIS_URL'), 6379),
    probe: (ms) => {
      const { host, port } = hostPort(env('REDIS_URL'), 6379);
      return tcpProbe(host, port, ms);
    },
    raw: async (mode) => (await import('./raw/redis-streams.js')).RawRedisStreams.create(env('REDIS_URL'), mode),
    peers: [
      {
        pkg: '@moleculer/channels',
        create: async () =>
          (await import('./peers/moleculer-channels.js')).MoleculerChannelsTarget.create(env('REDIS_URL')),
      },
    ],
    publishNeedsGroup: false,
    defaultMessages: 5_000,
  },
  rabbitmq: {
    name: 'rabbitmq',
    address: () => hostPortText(env('RABBITMQ_URL'), 5672),
    probe: (ms) => {
      const { host, port } = hostPort(env('RABBITMQ_URL'), 5672);
      return tcpProbe(host, port, ms);
    },
    raw: async (mode) => (await import('./raw/rabbitmq.js')).RawRabbitMq.create(env('RABBITMQ_URL'), mode),
    peers: [
      {
        pkg: '@message-queue-toolkit/amqp',
        note: 'publishes without confirms (not configurable): its publish runs end when the queue holds every message',
        create: async () => (await import('./peers/mqt-amqp.js')).MqtAmqpTarget.create(env('RABBITMQ_URL')),
      },
    ],
    publishNeedsGroup: true,
    defaultMessages: 5_000,
  },
  kafka: {
    name: 'kafka',
    address: () => env('KAFKA_SERVER') || '(KAFKA_SERVER not set)',
    probe: async (ms) => {
      const [first] = kafkaBrokers();
      if (!first) return false;
      const { host, port } = hostPort(first, 9092);
      return tcpProbe(host, port, ms);
    },
    raw: async (mode) => (await import('./raw/kafka.js')).RawKafka.create(kafkaBrokers(), mode),
    peers: [],
    publishNeedsGroup: false,
    defaultMessages: 5_000,
  },
  kinesis: {
    name: 'kinesis',
    address: () => env('AWS_ENDPOINT_URL') || 'AWS',
    probe: (ms) => (env('AWS_ENDPOINT_URL') ? httpProbe(env('AWS_ENDPOINT_URL'), ms) : Promise.resolve(false)),
    raw: async (mode) =>
      (await import('./raw/kinesis.js')).RawKinesis.create(
        {
          region: env('AWS_REGION') || 'us-east-1',
          endpoint: env('AWS_ENDPOINT_URL') || undefined,
          accessKeyId: env('AWS_ACCESS_KEY_ID') || undefined,
          secretAccessKey: env('AWS_SECRET_ACCESS_KEY') || undefined,
        },
        mode,
      ),
    peers: [],
    publishNeedsGroup: false,
    defaultMessages: 500,
  },
  pubsub: {
    name: 'pubsub',
    address: () => env('PUBSUB_EMULATOR_HOST') || 'Google Cloud',
    probe: (ms) =>
      env('PUBSUB_EMULATOR_HOST') ? httpProbe(`http://${env('PUBSUB_EMULATOR_HOST')}/`, ms) : Promise.resolve(false),
    raw: async (mode) =>
      (await import('./raw/pubsub.js')).RawPubSub.create(
        { projectId: env('GCP_PROJECT_ID'), emulatorHost: env('PUBSUB_EMULATOR_HOST') || undefined },
        mode,
      ),
    peers: [],
    publishNeedsGroup: true,
    defaultMessages: 2_000,
  },
  nats: {
    name: 'nats',
    address: () => hostPortText(env('NATS_URL').split(',')[0] ?? '', 4222),
    probe: (ms) => {
      const { host, port } = hostPort(env('NATS_URL').split(',')[0] ?? '', 4222);
      return tcpProbe(host, port, ms);
    },
    raw: async (mode) => (await import('./raw/nats.js')).RawNats.create(env('NATS_URL'), mode),
    peers: [],
    // JetStream keeps what is published to a stream whether or not a consumer exists.
    publishNeedsGroup: false,
    defaultMessages: 5_000,
  },
};

function hostPortText(value: string, defaultPort: number): string {
  try {
    const { host, port } = hostPort(value, defaultPort);
    return `${host}:${port}`;
  } catch {
    return value;
  }
}

export const ALL_BACKENDS = ['memory', ...Object.keys(BACKENDS)];

const ALIASES: Record<string, string> = { redis: 'redis-streams', rabbit: 'rabbitmq', amqp: 'rabbitmq', gcp: 'pubsub' };

export function canonicalBackend(name: string): string | undefined {
  const lower = name.trim().toLowerCase();
  const canonical = ALIASES[lower] ?? lower;
  return ALL_BACKENDS.includes(canonical) ? canonical : undefined;
}

/** Whether @eventport/<backend> loads (built, with its client library); the reason when it does not. */
export function sdkPackageStatus(name: string): { ok: true } | { ok: false; reason: string } {
  try {
    require(`@eventport/${name}`);
    return { ok: true };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    if (
      code === 'MODULE_NOT_FOUND' &&
      (message?.includes(`@eventport/${name}`) || message?.includes(`/${name}/dist/`))
    ) {
      return { ok: false, reason: 'package not built' };
    }
    return { ok: false, reason: `package does not load: ${message}` };
  }
}
