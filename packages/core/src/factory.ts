import type { z } from 'zod';
import type { EventAdapter } from './adapter.js';
import { type BackendConfigSource, loadBackendConfig } from './config.js';
import type { Driver } from './driver.js';
import { EventportError } from './errors.js';
import { consoleLogger, type Logger } from './logger.js';
import { type AdapterOptions, createPortableAdapter, splitAdapterOptions } from './portable/adapter.js';
import { closestName } from './validation.js';

/**
 * What a backend package exports as `backend` (and registers with `registerBackend` from its
 * `/register` entry): its name, env vars, option schema and how to build its driver. Core knows no
 * backend by name: `EVENT_TYPE=x` loads `@eventport/x` unless `x` is registered already.
 */
export interface BackendDefinition<S extends z.ZodType = z.ZodType, D extends Driver = Driver>
  extends BackendConfigSource<S> {
  /** The driver for settings already validated; `options.deadlines` tells a client how long core waits. */
  driver(config: z.output<S>, options: AdapterOptions & { logger: Logger }): D;
}

/** A backend's driver on its settings: defaults < env vars < `options`, validated before anything connects. */
export function backendDriver<S extends z.ZodType, D extends Driver>(
  definition: BackendDefinition<S, D>,
  options: Partial<z.input<S>> = {},
  adapterOptions: AdapterOptions = {},
): D {
  const logger = adapterOptions.logger ?? consoleLogger();
  const config = loadBackendConfig(definition, options as Record<string, unknown>, process.env, logger);
  return definition.driver(config, { ...adapterOptions, logger });
}

/** What a backend's `createXAdapter` does: its own options and the adapter's in one object. */
export function backendAdapter<S extends z.ZodType>(
  definition: BackendDefinition<S>,
  options: Partial<z.input<S>> & AdapterOptions = {},
): EventAdapter {
  const { adapterOptions, driverOptions } = splitAdapterOptions(options);
  return portableBackendAdapter(definition, driverOptions as Partial<z.input<S>>, adapterOptions);
}

function portableBackendAdapter<S extends z.ZodType>(
  definition: BackendDefinition<S>,
  driverOptions: Partial<z.input<S>>,
  adapterOptions: AdapterOptions,
): EventAdapter {
  return createPortableAdapter(backendDriver(definition, driverOptions, adapterOptions), adapterOptions);
}

/** A custom backend: receives the overrides passed to createAdapter (no env parsing). */
export type AdapterFactory = (
  overrides: Record<string, unknown>,
  options: AdapterOptions,
) => EventAdapter | Promise<EventAdapter>;

const registered = new Map<string, AdapterFactory>();

/** Makes `createAdapter(name)` / `EVENT_TYPE=name` build adapters with `factory`. */
export function registerAdapter(name: string, factory: AdapterFactory): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `adapter names are lower-case letters, digits and "-" (got "${name}")`,
    );
  }
  registered.set(name, factory);
}

/**
 * Registers a backend package's definition (env vars and schema included). Backend packages call it
 * from their `/register` entry, which bundlers can see: `import '@eventport/redis-streams/register'`.
 */
export function registerBackend(definition: BackendDefinition): void {
  registerAdapter(definition.name, (overrides, options) => portableBackendAdapter(definition, overrides, options));
}

export function backendPackage(name: string): string {
  return `@eventport/${name}`;
}

/** Backends registered in this process (statically, or loaded by an earlier createAdapter). */
export function availableBackends(): string[] {
  return [...registered.keys()].sort();
}

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
  const { adapterOptions: options, driverOptions: config } = splitAdapterOptions(overrides);
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new EventportError(
      'UNKNOWN_BACKEND',
      `EVENT_TYPE="${type}" is not a backend name (lower-case letters, digits and "-", such as redis-streams)`,
    );
  }
  if (!registered.has(name)) registerBackend(await importBackend(name));
  const factory = registered.get(name) as AdapterFactory;
  return factory(config, options);
}

async function importBackend(name: string): Promise<BackendDefinition> {
  const pkg = backendPackage(name);
  let loaded: { backend?: BackendDefinition };
  try {
    // A bundler cannot follow this import: bundled apps import '<package>/register' instead.
    loaded = await import(pkg);
  } catch (error) {
    const missing = missingModule(error);
    if (missing !== undefined) {
      const isBackend = missing.includes(pkg) || missing.includes(`/${name}/`);
      const known = availableBackends();
      const hint = closestName(name, known);
      throw new EventportError(
        'BACKEND_NOT_INSTALLED',
        isBackend
          ? `EVENT_TYPE=${name} needs ${pkg}, which is not installed — npm install ${pkg}` +
              `${hint ? ` (or did you mean "${hint}"?)` : ''}; with a bundler, import '${pkg}/register'` +
              `${known.length ? `; registered here: ${known.join(', ')}` : ''}`
          : `EVENT_TYPE=${name} needs ${pkg} and its client library "${missing}", which is missing — npm install ${pkg} ${missing}`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!loaded.backend || typeof loaded.backend.driver !== 'function' || loaded.backend.name !== name) {
    throw new EventportError(
      'INTERNAL',
      `${pkg} does not export a "${name}" backend definition; is it a matching version?`,
    );
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
