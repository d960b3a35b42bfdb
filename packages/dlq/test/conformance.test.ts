import { silentLogger } from '@eventport/core';
import { withDeadLetters } from '@eventport/dlq';
import { createMemoryAdapter, MEMORY_CAPABILITIES } from '@eventport/memory';
import { runConformance } from '@eventport/testkit';

// The decorator must keep every adapter guarantee. A budget no case exhausts keeps failures in
// the retry path (never dead-lettered), so the cases' own redelivery expectations still hold.
runConformance({
  name: 'memory + withDeadLetters',
  capabilities: MEMORY_CAPABILITIES,
  makeAdapter: (options) =>
    withDeadLetters(createMemoryAdapter(options), {
      maxAttempts: 1_000,
      initialDelayMs: 1,
      maxDelayMs: 20,
      logger: silentLogger,
    }),
});
