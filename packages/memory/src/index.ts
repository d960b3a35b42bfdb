import { type AdapterOptions, type BackendDefinition, backendAdapter, type EventAdapter } from '@eventport/core';
import { z } from 'zod';
import { MemoryDriver, type MemoryOptions } from './driver.js';

export { MemoryBroker } from './broker.js';
export { MEMORY_CAPABILITIES, MemoryDriver, type MemoryOptions } from './driver.js';

const memoryOptions = z.strictObject({
  broker: z.custom<MemoryOptions['broker']>().optional(),
  retainPerTopic: z.number().int().positive().optional(),
  maxBacklogPerTopic: z.number().int().positive().optional(),
});

export const backend: BackendDefinition<typeof memoryOptions, MemoryDriver> = {
  name: 'memory',
  env: {},
  schema: memoryOptions,
  driver: (config) => new MemoryDriver(config),
};

export const createMemoryAdapter = (options: MemoryOptions & AdapterOptions = {}): EventAdapter =>
  backendAdapter(backend, options);
