import {
  type AdapterOptions,
  type BackendDefinition,
  createPortableAdapter,
  type EventAdapter,
  splitAdapterOptions,
} from '@eventport/core';
import { PubSubDriver } from './driver.js';
import { PUBSUB_ENV, type PubSubOptions, pubsubSchema, resolvePubSubOptions } from './options.js';

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
  resolvePubSubOptions,
} from './options.js';
export { PubSubReceiver, type PubSubRecord } from './receiver.js';

/** `EVENT_TYPE=pubsub`: GCP_PROJECT_ID, GCP_CREDENTIALS_PATH and PUBSUB_EMULATOR_HOST feed one strict schema. */
export const backend: BackendDefinition<typeof pubsubSchema> = {
  name: 'pubsub',
  env: PUBSUB_ENV,
  schema: pubsubSchema,
  create: (config, options) => createPortableAdapter(new PubSubDriver(config), options),
};

/**
 * Options are validated here (env vars fill in what they leave out), before any connection opens;
 * `adapter.native()` is the PubSub client.
 */
export function createPubSubAdapter(options: Partial<PubSubOptions> & AdapterOptions): EventAdapter {
  const { adapterOptions, driverOptions } = splitAdapterOptions(options);
  return createPortableAdapter(new PubSubDriver(resolvePubSubOptions(driverOptions)), adapterOptions);
}
