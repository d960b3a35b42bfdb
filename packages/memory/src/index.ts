import { type AdapterOptions, type BackendDefinition, createPortableAdapter, type EventAdapter } from '@eventport/core';
import { MemoryDriver, type MemoryOptions } from './driver.js';

export { MemoryBroker } from './broker.js';
export { MEMORY_CAPABILITIES, MemoryDriver, type MemoryOptions } from './driver.js';

export function createMemoryAdapter(options: MemoryOptions & AdapterOptions = {}): EventAdapter {
  return createPortableAdapter(new MemoryDriver(options), options);
}

export const backend: BackendDefinition<MemoryOptions> = {
  create: (config, options) => createMemoryAdapter({ ...config, ...options }),
};
