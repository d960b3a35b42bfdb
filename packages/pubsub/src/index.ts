import { type AdapterOptions, type BackendDefinition, createPortableAdapter, type EventAdapter } from '@eventport/core';
import { PubSubDriver } from './driver.js';
import type { PubSubOptions } from './options.js';

export { PUBSUB_CAPABILITIES, PubSubDriver } from './driver.js';
export { classifyPubSubError } from './errors.js';
export {
  defaultSubscriptionName,
  PUBSUB_MAX_BODY_BYTES,
  type PubSubBatchingOptions,
  type PubSubDeadLetterOptions,
  type PubSubOptions,
  type PubSubRetryPolicy,
} from './options.js';

/** Options are validated here, before any connection opens; `adapter.native()` is the PubSub client. */
export function createPubSubAdapter(options: PubSubOptions & AdapterOptions): EventAdapter {
  return createPortableAdapter(new PubSubDriver(options), options);
}

export const backend: BackendDefinition<PubSubOptions> = {
  create: (config, options) => createPubSubAdapter({ ...config, ...options }),
};
