import { createMemoryAdapter, MEMORY_CAPABILITIES } from '@eventport/memory';
import { runConformance } from '@eventport/testkit';

runConformance({
  name: 'memory',
  capabilities: MEMORY_CAPABILITIES,
  makeAdapter: (options) => createMemoryAdapter(options),
});
