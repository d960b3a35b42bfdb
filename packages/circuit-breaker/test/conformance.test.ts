import { withCircuitBreaker } from '@eventport/circuit-breaker';
import { createMemoryAdapter, MEMORY_CAPABILITIES } from '@eventport/memory';
import { runConformance } from '@eventport/testkit';

// The breaker must not change delivery semantics: the memory adapter behind it passes the same suite.
runConformance({
  name: 'memory-circuit-breaker',
  capabilities: MEMORY_CAPABILITIES,
  makeAdapter: (options) => withCircuitBreaker(createMemoryAdapter(options)),
});
