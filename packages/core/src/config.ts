import { z } from 'zod';
import { EventportError } from './errors.js';
import type { Logger } from './logger.js';
import { formatZodError, schemaKeys } from './validation.js';

/** Zod building blocks for backend settings that arrive as strings from env vars. */
export const configFields = {
  /** Comma-separated host:port list. */
  hostPorts: z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((item) => item.trim())
            .filter(Boolean)
        : value,
    z
      .array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'each broker must be host:port'))
      .min(1, 'at least one broker is required'),
  ),
  flag: z.preprocess(
    (value) => (typeof value === 'string' ? ['1', 'true', 'yes', 'on'].includes(value.toLowerCase()) : value),
    z.boolean(),
  ),
  /** Handed through as it is (a client, TLS or client options, a logger): only checked to be an object. */
  object: <T>(message = 'must be an object') =>
    z.custom<T>((value) => typeof value === 'object' && value !== null, message),
  callback: <F>(message = 'must be a function') => z.custom<F>((value) => typeof value === 'function', message),
  url: (schemes: string[]) =>
    z.string().refine(
      (value) => {
        try {
          return schemes.includes(new URL(value).protocol.replace(/:$/, ''));
        } catch {
          return false;
        }
      },
      { message: `must be a URL starting with ${schemes.map((scheme) => `${scheme}://`).join(' or ')}` },
    ),
};

/** Where a backend's settings come from: which env var feeds which field, and what the result must satisfy. */
export interface BackendConfigSource<S extends z.ZodType = z.ZodType> {
  /** EVENT_TYPE name. */
  name: string;
  /** config field -> env var name. */
  env: Readonly<Record<string, string>>;
  /** A strict object schema: unknown keys fail, naming the key. */
  schema: S;
  /** Fields whose default is worth a log line when it is used because its env var is unset (e.g. a localhost URL). */
  announceDefaults?: readonly string[];
}

const announced = new Set<string>();

/**
 * Reads the backend's env vars, applies overrides, validates (defaults < env vars < overrides);
 * errors name the env var or option to fix, and the closest valid name for an unknown key.
 */
export function loadBackendConfig<S extends z.ZodType>(
  source: BackendConfigSource<S>,
  overrides: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = process.env,
  logger?: Logger,
): z.output<S> {
  const fromEnv: Record<string, unknown> = {};
  for (const [field, variable] of Object.entries(source.env)) {
    const value = env[variable];
    if (value !== undefined && value !== '') fromEnv[field] = value;
  }
  const given = withoutUndefined(overrides);
  const merged = { ...fromEnv, ...given };
  const parsed = source.schema.safeParse(merged);
  if (!parsed.success) {
    const nameOf = (path: PropertyKey[]) => {
      const field = String(path[0] ?? '');
      const variable = source.env[field];
      return variable && !(field in given) ? variable : `${source.name} option "${path.map(String).join('.')}"`;
    };
    throw new EventportError(
      'INVALID_CONFIG',
      `invalid ${source.name} configuration: ${formatZodError(parsed.error, nameOf, schemaKeys(source.schema))}`,
    );
  }
  for (const field of logger ? (source.announceDefaults ?? []) : []) {
    if (field in merged || announced.has(`${source.name}.${field}`)) continue;
    announced.add(`${source.name}.${field}`);
    const variable = source.env[field];
    logger?.info(`${source.name}: ${variable ?? field} is not set; using the default`, {
      field,
      default: (parsed.data as Record<string, unknown>)[field],
    });
  }
  return parsed.data;
}

function withoutUndefined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}
