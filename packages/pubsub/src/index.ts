import { type AdapterOptions, type BackendDefinition, backendAdapter, type EventAdapter } from '@eventport/core';
import { PubSubDriver } from './driver.js';
import { type PubSubOptions, pubsubSchema } from './options.js';

export { PUBSUB_CAPABILITIES, PubSubDriver } from './driver.js';
export { classifyPubSubError } from './errors.js';
export {
  defaultSubscriptionName,
  PUBSUB_MAX_BODY_BYTES,
  type PubSubBatchingOptions,
  type PubSubConfig,
  type PubSubDeadLetterOptions,
  type PubSubOptions,
  type PubSubRetryPolicy,
  pubsubSchema,
} from './options.js';
export { PubSubReceiver, type PubSubRecord } from './receiver.js';

/** `EVENT_TYPE=pubsub`: GCP_PROJECT_ID, GCP_CREDENTIALS_PATH and PUBSUB_EMULATOR_HOST feed one strict schema. */
export const backend: BackendDefinition<typeof pubsubSchema, PubSubDriver> = {
  name: 'pubsub',
  env: { projectId: 'GCP_PROJECT_ID', keyFilename: 'GCP_CREDENTIALS_PATH', emulatorHost: 'PUBSUB_EMULATOR_HOST' },
  schema: pubsubSchema,
  driver: (config) => new PubSubDriver(config),
};

/**
 * Options are validated here (env vars fill in what they leave out), before any connection opens;
 * `adapter.native()` is the PubSub client.
 */
export const createPubSubAdapter = (options: Partial<PubSubOptions> & AdapterOptions): EventAdapter =>
  backendAdapter(backend, options);
