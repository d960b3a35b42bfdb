import { createPubSubAdapter, PUBSUB_CAPABILITIES } from '@eventport/pubsub';
import { runConformance } from '@eventport/testkit';
import { emulatorHost, projectId } from './env';

// Short ack deadline: a killed consumer's leased messages come back after 10 s (case 17).
const ackDeadlineSeconds = 10;

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
});
