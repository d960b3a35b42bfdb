import { MemoryBroker, MemoryDriver } from '@eventport/memory';
import { runDriverConformance } from '@eventport/testkit';

// One broker for the suite: drivers made for a case are clients of the same in-process server.
const broker = new MemoryBroker();

runDriverConformance({
  name: 'memory',
  makeDriver: () => new MemoryDriver({ broker }),
  // No makeSilentDriver: an in-process broker has no network, so those cases show as skipped.
});
