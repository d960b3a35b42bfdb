import { existsSync, readFileSync } from 'node:fs';
import type { AdapterOptions, BackendDefinition, EventAdapter } from '@eventport/core';
import { backendAdapter, configFields, DEFAULT_DEADLINES } from '@eventport/core';
import type { ConsumerConfig, StreamConfig } from '@nats-io/jetstream';
import { credsAuthenticator, type NodeConnectionOptions, nkeyAuthenticator } from '@nats-io/transport-node';
import { z } from 'zod';
import { NatsDriver } from './driver.js';

export { NATS_CAPABILITIES, NatsDriver, type NatsDriverOptions } from './driver.js';
export { classifyNatsError } from './wire.js';

const text = z.string().min(1).optional();
const file = z.string().refine(existsSync, 'no such file').optional();
const int = z.coerce.number().int().positive();
const servers = z.string().refine((value) => value.split(',').every(parseServer), {
  message: 'must be comma-separated nats:// or tls:// URLs (or host:port)',
});

/** The package README describes every field. */
const natsOptions = z.strictObject({
  url: servers.default('nats://127.0.0.1:4222'),
  ...{ user: text, password: z.string().optional(), token: text, nkeyFile: file, credsFile: file },
  ...{ tls: configFields.flag.optional(), caFile: file, certFile: file, keyFile: file },
  streamPrefix: z
    .string()
    .regex(/^[\w-]*$/)
    .default('EP_'),
  ackWaitMs: int.min(1_000).default(30_000),
  requestTimeoutMs: int.default(5_000),
  stream: configFields.object<Partial<StreamConfig>>().optional(),
  consumer: configFields.object<Partial<ConsumerConfig>>().optional(),
});

export type NatsOptions = z.input<typeof natsOptions>;
export type NatsConfig = z.output<typeof natsOptions>;

function parseServer(item: string): URL | undefined {
  const url = URL.parse(item.includes('://') ? item.trim() : `nats://${item.trim()}`);
  return url && ['nats:', 'tls:'].includes(url.protocol) && url.hostname !== '' ? url : undefined;
}

/** No server string carries a credential: they go to the client's authenticators only. */
function connectionOptions(config: NatsConfig, connectMs: number): NodeConnectionOptions {
  const urls = config.url.split(',').map((item) => parseServer(item) as URL);
  const auth = urls.find((url) => url.username !== '');
  const [name, secret] = [auth?.username, auth?.password].map((part) => part && decodeURIComponent(part));
  const files = Object.entries({ caFile: config.caFile, certFile: config.certFile, keyFile: config.keyFile });
  const options: NodeConnectionOptions = {
    servers: urls.map((url) => `${url.protocol}//${url.host}`),
    ...{ name: 'eventport', noAsyncTraces: true }, // no stack captured per request: a fifth of publish CPU
    // Gives up on a server that accepts and never answers before core's connect deadline does.
    timeout: Math.max(1_000, connectMs - 1_000),
    // Reconnects on its own, without end; core's deadlines bound every call meanwhile.
    ...{ reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500, pingInterval: 10_000, maxPingOut: 3 },
  };
  // nats://user:pass@host, or nats://token@host; the fields (NATS_USER...) win over the URL.
  Object.assign(options, { user: config.user ?? (secret ? name : undefined), pass: config.password ?? secret });
  options.token = config.token ?? (secret ? undefined : name);
  if (config.credsFile) options.authenticator = credsAuthenticator(readFileSync(config.credsFile));
  else if (config.nkeyFile) {
    options.authenticator = nkeyAuthenticator(Buffer.from(readFileSync(config.nkeyFile, 'utf8').trim()));
  }
  const tls = config.tls || urls.some((url) => url.protocol === 'tls:') || files.some(([, file]) => file);
  if (tls) options.tls = Object.fromEntries(files.filter(([, file]) => file));
  return options;
}

export const backend: BackendDefinition<typeof natsOptions, NatsDriver> = {
  name: 'nats',
  // url: NATS_URL, password: NATS_PASSWORD, nkeyFile: NATS_NKEY, caFile: NATS_CA...
  env: Object.fromEntries(
    ['url', 'user', 'password', 'token', 'nkeyFile', 'credsFile', 'tls', 'caFile', 'certFile', 'keyFile'].map(
      (field) => [field, `NATS_${field.replace(/File$/, '').toUpperCase()}`],
    ),
  ),
  schema: natsOptions,
  announceDefaults: ['url'],
  // Only the connection options carry a credential, inside the client's authenticators.
  driver: (config, { deadlines }) => {
    const { streamPrefix, ackWaitMs, requestTimeoutMs, stream, consumer } = config;
    const connection = connectionOptions(config, deadlines?.connectMs ?? DEFAULT_DEADLINES.connectMs);
    return new NatsDriver({ connection, streamPrefix, ackWaitMs, requestTimeoutMs, stream, consumer });
  },
};

export const createNatsAdapter = (options: NatsOptions & AdapterOptions = {}): EventAdapter =>
  backendAdapter(backend, options);
