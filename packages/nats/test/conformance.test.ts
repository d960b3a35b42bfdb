import { createNatsAdapter, NATS_CAPABILITIES } from '@eventport/nats';
import { runConformance } from '@eventport/testkit';
import { afterAll, beforeAll } from '@jest/globals';
import { PrivateNats } from './private-nats';

// Private servers: case 16 restarts this one, not the shared one at NATS_URL; case 23 needs a password.
const server = new PrivateNats();
const secured = new PrivateNats({ user: 'app', pass: 'right-pass' });
beforeAll(() => Promise.all([server.start(), secured.start()]));
afterAll(() => Promise.all([server.stop(), secured.stop()]));

// Short enough that the crashed worker's deliveries (case 17) come back within seconds; longer than any handler in the suite.
const overrides = { ackWaitMs: 5_000 };

runConformance({
  name: 'nats',
  capabilities: NATS_CAPABILITIES,
  makeAdapter: (options) => createNatsAdapter({ url: server.url, ...overrides, ...options }),
  restartBroker: () => server.restart(),
  crashWorker: {
    env: {
      EVENT_TYPE: 'nats',
      get NATS_URL() {
        return server.url;
      },
    },
    overrides,
  },
  makeSilentAdapter: ({ host, port }, options) =>
    createNatsAdapter({ url: `nats://app:silent-secret@${host}:${port}`, ...options }),
  wrongCredential: {
    secret: 'wrong-secret-3f9',
    makeAdapter: (options) =>
      createNatsAdapter({ url: `nats://app:wrong-secret-3f9@127.0.0.1:${secured.port}`, ...options }),
  },
});
