import { withCircuitBreaker } from '@eventport/circuit-breaker';
import { createMemoryAdapter, MEMORY_CAPABILITIES } from '@eventport/memory';
import { withMetrics } from '@eventport/metrics';
import { runConformance } from '@eventport/testkit';
import { Registry } from 'prom-client';

// Both decorators stacked must not change delivery semantics: the memory adapter under them passes the same suite.
const registry = new Registry();

runConformance({
  name: 'memory-metrics-circuit-breaker',
  capabilities: MEMORY_CAPABILITIES,
  makeAdapter: (options) => withMetrics(withCircuitBreaker(createMemoryAdapter(options)), { registry }),
});
