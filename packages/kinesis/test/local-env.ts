/**
 * Connection settings of the local brokers: the env vars when set (scripts/brokers/env.sh), else the
 * defaults of scripts/brokers/up.sh. Written into process.env so createAdapter() and child processes
 * read them the way a deployed service would.
 */
const LOCAL_DEFAULTS: Record<string, string> = {
  AWS_ENDPOINT_URL: 'http://127.0.0.1:4568',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  REDIS_URL: 'redis://127.0.0.1:6379',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
};

export function useLocalBrokers(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, fallback] of Object.entries(LOCAL_DEFAULTS)) {
    process.env[name] ||= fallback;
    env[name] = process.env[name] as string;
  }
  return env;
}
