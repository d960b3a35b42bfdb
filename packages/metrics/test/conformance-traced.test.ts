import { withCircuitBreaker } from '@eventport/circuit-breaker';
import { createMemoryAdapter, MEMORY_CAPABILITIES } from '@eventport/memory';
import { withMetrics } from '@eventport/metrics';
import { runConformance } from '@eventport/testkit';
import { Registry } from 'prom-client';
import { installTestOpenTelemetry } from './otel';

// With tracing live, every message carries a traceparent header: delivery semantics must still not change.
installTestOpenTelemetry();
const registry = new Registry();

runConformance({
  name: 'memory-traced',
  capabilities: MEMORY_CAPABILITIES,
  makeAdapter: (options) => withMetrics(withCircuitBreaker(createMemoryAdapter(options)), { registry }),
});
