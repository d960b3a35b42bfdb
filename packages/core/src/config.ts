import { z } from 'zod';
import { EventportError } from './errors.js';
import { formatZodError } from './validation.js';

const list = z.preprocess(
  (value) =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean)
      : value,
  z
    .array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'each broker must be host:port'))
    .min(1, 'at least one broker is required'),
);
const flag = z.preprocess(
  (value) => (typeof value === 'string' ? ['1', 'true', 'yes', 'on'].includes(value.toLowerCase()) : value),
  z.boolean(),
);
const url = (schemes: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${schemes.map((scheme) => `${scheme}://`).join(' or ')}` },
  );

/**
 * Per backend: which env var feeds which config field, and the schema the result must satisfy.
 * Defaults < env vars < explicit overrides. Backends accept extra options of their own (loose objects).
 */
export const BACKEND_CONFIG = {
  memory: { env: {}, schema: z.looseObject({}) },
  kafka: {
    env: {
      brokers: 'KAFKA_SERVER',
      clientId: 'KAFKA_CLIENT_ID',
      ssl: 'KAFKA_SSL',
      saslMechanism: 'KAFKA_SASL_MECHANISM',
      saslUsername: 'KAFKA_SASL_USERNAME',
      saslPassword: 'KAFKA_SASL_PASSWORD',
    },
    schema: z.looseObject({
      brokers: list.default(['localhost:9092']),
      clientId: z.string().min(1).default('eventport'),
      ssl: flag.default(false),
      saslMechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
      saslUsername: z.string().optional(),
      saslPassword: z.string().optional(),
    }),
  },
  rabbitmq: {
    env: { url: 'RABBITMQ_URL' },
    schema: z.looseObject({ url: url(['amqp', 'amqps']).default('amqp://guest:guest@localhost:5672') }),
  },
  kinesis: {
    env: {
      region: 'AWS_REGION',
      accessKeyId: 'AWS_ACCESS_KEY_ID',
      secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
      sessionToken: 'AWS_SESSION_TOKEN',
      endpoint: 'AWS_ENDPOINT_URL',
      checkpointStore: 'KINESIS_CHECKPOINT_URL',
    },
    schema: z.looseObject({
      region: z
        .string()
        .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1')
        .default('us-east-1'),
      accessKeyId: z.string().min(1).optional(),
      secretAccessKey: z.string().min(1).optional(),
      // Temporary credentials (STS, Lambda) are incomplete without it.
      sessionToken: z.string().min(1).optional(),
      endpoint: url(['http', 'https']).optional(),
      checkpointStore: z.unknown().optional(),
    }),
  },
  pubsub: {
    env: { projectId: 'GCP_PROJECT_ID', keyFilename: 'GCP_CREDENTIALS_PATH', emulatorHost: 'PUBSUB_EMULATOR_HOST' },
    schema: z.looseObject({
      projectId: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a GCP project id such as my-project-123'),
      keyFilename: z.string().min(1).optional(),
      emulatorHost: z
        .string()
        .regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port')
        .optional(),
    }),
  },
  'redis-streams': {
    env: { url: 'REDIS_URL' },
    schema: z.looseObject({ url: url(['redis', 'rediss']).default('redis://localhost:6379') }),
  },
} as const;

export type BuiltinBackend = keyof typeof BACKEND_CONFIG;
export type BackendConfig<B extends BuiltinBackend> = z.output<(typeof BACKEND_CONFIG)[B]['schema']>;
export type KafkaConfig = BackendConfig<'kafka'>;
export type RabbitMqConfig = BackendConfig<'rabbitmq'>;
export type KinesisConfig = BackendConfig<'kinesis'>;
export type PubSubConfig = BackendConfig<'pubsub'>;
export type RedisStreamsConfig = BackendConfig<'redis-streams'>;

export function isBuiltinBackend(name: string): name is BuiltinBackend {
  return Object.hasOwn(BACKEND_CONFIG, name);
}

/** Reads the backend's env vars, applies overrides, validates; errors name the env var to fix. */
export function loadBackendConfig<B extends BuiltinBackend>(
  backend: B,
  overrides: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = process.env,
): BackendConfig<B> {
  const { env: variables, schema } = BACKEND_CONFIG[backend];
  const fromEnv: Record<string, unknown> = {};
  for (const [field, variable] of Object.entries(variables as Record<string, string>)) {
    const value = env[variable];
    if (value !== undefined && value !== '') fromEnv[field] = value;
  }
  const merged = { ...fromEnv, ...withoutUndefined(overrides) };
  const parsed = (schema as z.ZodType).safeParse(merged);
  if (!parsed.success) {
    const nameOf = (path: PropertyKey[]) => {
      const field = String(path[0] ?? '');
      const variable = (variables as Record<string, string>)[field];
      return variable && !(field in overrides) ? variable : `${backend} option "${path.map(String).join('.')}"`;
    };
    throw new EventportError(
      'INVALID_CONFIG',
      `invalid ${backend} configuration: ${formatZodError(parsed.error, nameOf)}`,
    );
  }
  return parsed.data as BackendConfig<B>;
}

function withoutUndefined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}
