import { type AdapterOptions, type BackendDefinition, createPortableAdapter, type EventAdapter } from '@eventport/core';
import { z } from 'zod';
import { MemoryDriver, type MemoryOptions } from './driver.js';

export { MemoryBroker } from './broker.js';
export { MEMORY_CAPABILITIES, MemoryDriver, type MemoryOptions } from './driver.js';

export function createMemoryAdapter(options: MemoryOptions & AdapterOptions = {}): EventAdapter {
  const { broker, retainPerTopic, maxBacklogPerTopic, ...adapterOptions } = options;
  return createPortableAdapter(new MemoryDriver({ broker, retainPerTopic, maxBacklogPerTopic }), adapterOptions);
}

const memoryOptions = z.strictObject({
  broker: z.custom<MemoryOptions['broker']>().optional(),
  retainPerTopic: z.number().int().positive().optional(),
  maxBacklogPerTopic: z.number().int().positive().optional(),
});

export const backend: BackendDefinition<typeof memoryOptions> = {
  name: 'memory',
  env: {},
  schema: memoryOptions,
  create: (config, options) => createMemoryAdapter({ ...config, ...options }),
};
