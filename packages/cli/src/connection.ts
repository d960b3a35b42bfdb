import { readFile } from 'node:fs/promises';
import { backendPackage, EventportError, formatZodError } from '@eventport/core';
import { z } from 'zod';

/**
 * Where a command's backend and its options come from, lowest first:
 *   backend: EVENT_TYPE < config file "backend" < --backend; "memory" when none is given.
 *   options: the backend's env vars < config file "options" < --url < -X key=value.
 * Everything reaches createAdapter(backend, overrides), which validates it strictly (an unknown key
 * names the closest valid one).
 */
export interface ConnectionFlags {
  /** --backend, or EVENT_TYPE through commander's env fallback. */
  backend?: string;
  /** Whether `backend` was typed on the command line (it then beats the config file). */
  backendFromFlag: boolean;
  url?: string;
  /** -X pairs, already parsed. */
  option: Record<string, unknown>;
  /** --config or EVENTPORT_CONFIG. */
  config?: string;
}

export interface Connection {
  backend: string;
  overrides: Record<string, unknown>;
}

const ConfigFileSchema = z.strictObject({
  backend: z.string().min(1).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
});

/**
 * The option `--url` sets, per backend: the first candidate the backend's definition knows (NATS may
 * call it `servers` or `url`). Backends not listed take `url`; memory has none.
 */
export const URL_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  'redis-streams': ['url'],
  rabbitmq: ['url'],
  nats: ['servers', 'url'],
  kafka: ['brokers'],
  kinesis: ['endpoint'],
  pubsub: ['emulatorHost'],
  memory: [],
};

export async function resolveConnection(flags: ConnectionFlags): Promise<Connection> {
  const file = flags.config ? await readConfigFile(flags.config) : {};
  const chosen = flags.backendFromFlag ? flags.backend : (file.backend ?? flags.backend);
  const backend = (chosen ?? '').trim().toLowerCase() || 'memory';
  let overrides = mergeOptions({}, file.options ?? {});
  if (flags.url !== undefined) {
    const field = await urlOption(backend);
    if (field === undefined) {
      throw new EventportError(
        'INVALID_ARGUMENT',
        `--url: the ${backend} backend has no URL option; set its options with -X key=value`,
      );
    }
    overrides = mergeOptions(overrides, { [field]: flags.url });
  }
  overrides = mergeOptions(overrides, flags.option);
  return { backend, overrides };
}

async function readConfigFile(file: string): Promise<z.output<typeof ConfigFileSchema>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'unreadable';
    throw new EventportError('INVALID_ARGUMENT', `--config: cannot read ${file} (${code})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `--config: ${file} is not JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  const parsed = ConfigFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `--config: ${file} must look like { "backend": "...", "options": { ... } }: ${formatZodError(
        parsed.error,
        (path) => (path.length === 0 ? 'file' : path.map(String).join('.')),
        ['backend', 'options'],
      )}`,
    );
  }
  return parsed.data;
}

/** The option --url sets on `backend`, asking the backend's definition where there is a choice. */
async function urlOption(backend: string): Promise<string | undefined> {
  const candidates = URL_OPTIONS[backend] ?? ['url'];
  if (candidates.length <= 1) return candidates[0];
  const known = await definitionKeys(backend);
  return candidates.find((candidate) => known.has(candidate)) ?? candidates[candidates.length - 1];
}

/** Option names of an installed backend package (its env mapping and schema); empty when it cannot be loaded. */
async function definitionKeys(backend: string): Promise<Set<string>> {
  try {
    const loaded = (await import(backendPackage(backend))) as {
      backend?: { env?: Record<string, string>; schema?: { shape?: Record<string, unknown> } };
    };
    const definition = loaded.backend;
    return new Set([...Object.keys(definition?.env ?? {}), ...Object.keys(definition?.schema?.shape ?? {})]);
  } catch {
    // createAdapter reports a missing package properly.
    return new Set();
  }
}

/**
 * `-X key=value`: the value as JSON when it parses (numbers, booleans, arrays, objects, "quoted
 * strings"), else the text itself. A dotted key sets a nested option: `-X redis.db=2`.
 */
export function collectOption(pair: string, options: Record<string, unknown>): Record<string, unknown> {
  const separator = pair.indexOf('=');
  const key = separator > 0 ? pair.slice(0, separator) : '';
  const path = key.split('.');
  if (key === '' || path.some((part) => part === '')) {
    throw new EventportError('INVALID_ARGUMENT', `-X expects key=value (got "${pair}")`);
  }
  if (path.some((part) => part === '__proto__' || part === 'constructor' || part === 'prototype')) {
    throw new EventportError('INVALID_ARGUMENT', `-X: "${key}" is not an option name`);
  }
  const text = pair.slice(separator + 1);
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON: a plain string such as a URL.
  }
  let nested: unknown = value;
  for (const part of [...path].reverse()) nested = { [part]: nested };
  return mergeOptions(options, nested as Record<string, unknown>);
}

/** Objects merge key by key; anything else (arrays included) replaces what was there. */
export function mergeOptions(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    if (key === '__proto__') continue;
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? mergeOptions(current, value) : value;
  }
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
