import { EventportError, redact } from '@eventport/core';
import { MemoryCheckpointStore } from './memory.js';
import { PostgresCheckpointStore } from './postgres.js';
import { RedisCheckpointStore } from './redis.js';
import type { CheckpointStore, CheckpointStoreConfig } from './store.js';

/** Shared by every adapter of the process that does not name a store, like one broker-side store would be. */
const processStore = new MemoryCheckpointStore();

export type CheckpointStoreOption = CheckpointStore | CheckpointStoreConfig | string;

/**
 * Builds the store an adapter uses: an instance as given (the caller closes it), a config object or a
 * URL (redis://, rediss://, postgres://, postgresql://, memory:) built here and closed on disconnect.
 */
export function resolveCheckpointStore(option: CheckpointStoreOption | undefined): {
  store: CheckpointStore;
  owned: boolean;
} {
  if (option === undefined) return { store: processStore, owned: false };
  if (isStore(option)) return { store: option, owned: false };
  const config = typeof option === 'string' ? configFromUrl(option) : option;
  switch (config.type) {
    case 'memory':
      return { store: processStore, owned: false };
    case 'redis':
      requireUrl(config.url, ['redis', 'rediss'], 'redis');
      return { store: new RedisCheckpointStore({ url: config.url, keyPrefix: config.keyPrefix }), owned: true };
    case 'postgres':
      requireUrl(config.url, ['postgres', 'postgresql'], 'postgres');
      return { store: new PostgresCheckpointStore({ url: config.url, table: config.table }), owned: true };
    default:
      throw new EventportError(
        'INVALID_CONFIG',
        `kinesis option "checkpointStore.type" must be "memory", "redis" or "postgres" (got ${JSON.stringify((config as { type?: unknown }).type)})`,
      );
  }
}

function isStore(option: CheckpointStoreOption): option is CheckpointStore {
  return typeof option === 'object' && typeof (option as CheckpointStore).tryLease === 'function';
}

function configFromUrl(url: string): CheckpointStoreConfig {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'memory') return { type: 'memory' };
  if (scheme === 'redis' || scheme === 'rediss') return { type: 'redis', url };
  if (scheme === 'postgres' || scheme === 'postgresql') return { type: 'postgres', url };
  throw new EventportError(
    'INVALID_CONFIG',
    `kinesis checkpoint store URL must start with redis://, rediss://, postgres://, postgresql:// or memory: (got "${redact(url)}")`,
  );
}

function requireUrl(url: unknown, schemes: string[], type: string): void {
  const valid =
    typeof url === 'string' &&
    (() => {
      try {
        return schemes.includes(new URL(url).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    })();
  if (!valid) {
    throw new EventportError(
      'INVALID_CONFIG',
      `kinesis option "checkpointStore.url" for type "${type}" must be a ${schemes.map((s) => `${s}://`).join(' or ')} URL`,
    );
  }
}
