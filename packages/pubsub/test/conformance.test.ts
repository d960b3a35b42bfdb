import { createPubSubAdapter, PUBSUB_CAPABILITIES } from '@eventport/pubsub';
import { runConformance } from '@eventport/testkit';
import { afterAll } from '@jest/globals';
import { emulatorHost, projectId } from './env';
import { fakeCredentials } from './fake-credentials';

// Short ack deadline: a killed consumer's leased messages come back after 10 s (case 17).
const ackDeadlineSeconds = 10;
// Case 23: a service-account key file the client really signs with, against a TLS server that never answers.
const credentials = fakeCredentials();
afterAll(() => credentials.close());

runConformance({
  name: 'pubsub',
  capabilities: PUBSUB_CAPABILITIES,
  makeAdapter: (options) => createPubSubAdapter({ projectId, emulatorHost, ackDeadlineSeconds, ...options }),
  crashWorker: {
    env: {
      EVENT_TYPE: 'pubsub',
      PUBSUB_EMULATOR_HOST: emulatorHost,
      GCP_PROJECT_ID: projectId,
      METADATA_SERVER_DETECTION: 'none',
    },
    overrides: { ackDeadlineSeconds },
  },
  makeSilentAdapter: ({ host, port }, options) =>
    createPubSubAdapter({ projectId, emulatorHost: `${host}:${port}`, ...options }),
  wrongCredential: {
    // A line from the middle of the private key's base64 body.
    secret: credentials.secrets[Math.floor(credentials.secrets.length / 3)] as string,
    makeAdapter: (options) => credentials.makeAdapter(options),
  },
});
