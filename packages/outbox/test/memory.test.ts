import { MemoryOutboxStore, type MemoryOutboxTransaction } from '@eventport/outbox';
import { describeOutboxStore } from './store-suite';

describeOutboxStore<MemoryOutboxTransaction>('memory', async () => {
  const store = new MemoryOutboxStore();
  return {
    store,
    anotherStore: () => store,
    transaction: (work) => store.transaction(work),
    close: async () => {},
  };
});
