/** Connection settings of the local emulator, overridable by the usual env vars (scripts/brokers/env.sh). */
export const emulatorHost = process.env.PUBSUB_EMULATOR_HOST || '127.0.0.1:8085';
export const projectId = process.env.GCP_PROJECT_ID || 'eventport-local';
process.env.METADATA_SERVER_DETECTION ??= 'none';
