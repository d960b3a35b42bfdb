import { MemoryEventStore } from '@eventport/event-store';
import { MemoryOutboxStore, type OutboxStore } from '@eventport/outbox';
import { describeEventStore } from './store-suite';

describeEventStore<undefined>('memory', async () => ({
  fresh: async (options) => new MemoryEventStore(options),
  freshWithOutbox: async (routing) => {
    const outbox = new MemoryOutboxStore();
    return {
      store: new MemoryEventStore({ outbox: { store: outbox, ...routing } }),
      outbox: outbox as OutboxStore<never>,
    };
  },
  close: async () => {},
}));
