import type { EventAdapter } from './adapter.js';
import { BACKEND_CONFIG, type BuiltinBackend, isBuiltinBackend, loadBackendConfig } from './config.js';
import { EventportError } from './errors.js';
import type { AdapterOptions } from './portable/adapter.js';

/** What a backend package exports as `backend`. */
export interface BackendDefinition<Config = Record<string, unknown>> {
  create(config: Config, options: AdapterOptions): EventAdapter | Promise<EventAdapter>;
}

/** A custom backend: receives the overrides passed to createAdapter (no env parsing). */
export type AdapterFactory = (
  overrides: Record<string, unknown>,
  options: AdapterOptions,
) => EventAdapter | Promise<EventAdapter>;

const registered = new Map<string, AdapterFactory>();

/** Makes `createAdapter(name)` / `EVENT_TYPE=name` build adapters with `factory`. Registered names win over built-ins. */
export function registerAdapter(name: string, factory: AdapterFactory): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `adapter names are lower-case letters, digits and "-" (got "${name}")`,
    );
  }
  registered.set(name, factory);
}

export function backendPackage(name: BuiltinBackend): string {
  return `@eventport/${name}`;
}

export function availableBackends(): string[] {
  return [...new Set([...Object.keys(BACKEND_CONFIG), ...registered.keys()])].sort();
}

const PORTABLE_OPTION_KEYS = ['logger', 'codec', 'maxPayloadBytes', 'publishAttempts'] as const;

/**
 * Builds the adapter for `type` (default: EVENT_TYPE, else "memory"). Backend settings come from the
 * backend's env vars, overridden by `overrides`; the backend package is imported only now, so an
 * application installs just the one it uses.
 */
export async function createAdapter(
  type: string | undefined = process.env.EVENT_TYPE,
  overrides: Record<string, unknown> & AdapterOptions = {},
): Promise<EventAdapter> {
  const name = (type ?? '').trim().toLowerCase() || 'memory';
  const options: AdapterOptions = {};
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(overrides)) {
    if ((PORTABLE_OPTION_KEYS as readonly string[]).includes(key)) (options as Record<string, unknown>)[key] = value;
    else config[key] = value;
  }
  const custom = registered.get(name);
  if (custom) return custom(config, options);
  if (!isBuiltinBackend(name)) {
    throw new EventportError(
      'UNKNOWN_BACKEND',
      `EVENT_TYPE="${type}" is not a known backend; use one of: ${availableBackends().join(', ')} (or registerAdapter() your own)`,
    );
  }
  const backendConfig = loadBackendConfig(name, config);
  const definition = await importBackend(name);
  return definition.create(backendConfig as Record<string, unknown>, options);
}

async function importBackend(name: BuiltinBackend): Promise<BackendDefinition<Record<string, unknown>>> {
  const pkg = backendPackage(name);
  let loaded: { backend?: BackendDefinition<Record<string, unknown>> };
  try {
    loaded = await import(pkg);
  } catch (error) {
    const missing = missingModule(error);
    if (missing !== undefined) {
      const peer = missing.includes(pkg) || missing.includes(`/${name}/`) ? undefined : missing;
      throw new EventportError(
        'BACKEND_NOT_INSTALLED',
        peer === undefined
          ? `EVENT_TYPE=${name} needs ${pkg}, which is not installed — npm install ${pkg}`
          : `EVENT_TYPE=${name} needs ${pkg} and its client library "${peer}", which is missing — npm install ${pkg} ${peer}`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!loaded.backend || typeof loaded.backend.create !== 'function') {
    throw new EventportError('INTERNAL', `${pkg} does not export a backend definition; is it a matching version?`);
  }
  return loaded.backend;
}

/** The module a failed import could not find, if that is why it failed. */
function missingModule(error: unknown): string | undefined {
  const code = (error as { code?: string } | undefined)?.code;
  if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  const message = error instanceof Error ? error.message : '';
  return /Cannot find (?:module|package) '([^']+)'/.exec(message)?.[1] ?? message;
}
