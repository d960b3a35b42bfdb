import type { EventAdapter } from '@eventport/core';

// biome-ignore lint/suspicious/noExplicitAny: a package loaded at run time, typed by its own declarations
type Loaded = Record<string, any>;

export interface DecoratorSpec {
  name: string;
  pkg: string;
  /** The decorator with the options a user starts with (the inbox needs a store: its in-memory one). */
  apply: (loaded: Loaded, adapter: EventAdapter) => EventAdapter;
}

/**
 * Innermost last: stacked, they wrap the adapter as
 * withMetrics(withCircuitBreaker(withInbox(withDeadLetters(adapter)))), the order withInbox requires
 * (its transaction must not span the dead-letter retries).
 */
export const DECORATORS: readonly DecoratorSpec[] = [
  { name: 'withMetrics', pkg: '@eventport/metrics', apply: (loaded, adapter) => loaded.withMetrics(adapter) },
  {
    name: 'withCircuitBreaker',
    pkg: '@eventport/circuit-breaker',
    apply: (loaded, adapter) => loaded.withCircuitBreaker(adapter),
  },
  {
    name: 'withInbox',
    pkg: '@eventport/inbox',
    apply: (loaded, adapter) => loaded.withInbox(adapter, { store: new loaded.MemoryInboxStore() }),
  },
  { name: 'withDeadLetters', pkg: '@eventport/dlq', apply: (loaded, adapter) => loaded.withDeadLetters(adapter) },
];

/** The row that wraps one adapter in every decorator at once. */
export const ALL_STACKED = 'all four stacked';

export type Decorate = (adapter: EventAdapter) => EventAdapter;

/**
 * Loads a decorator at run time, so the bench builds and runs while its package is missing or not
 * built: returns the reason instead of throwing.
 */
export function loadDecorator(spec: DecoratorSpec): Decorate | string {
  let loaded: Loaded;
  try {
    loaded = require(spec.pkg) as Loaded;
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    const code = (error as { code?: string }).code;
    return code === 'MODULE_NOT_FOUND' && (message.includes(spec.pkg) || message.includes('/dist/'))
      ? 'n/a (package not built)'
      : `n/a (${spec.pkg} does not load: ${message})`;
  }
  if (typeof loaded[spec.name] !== 'function') return `n/a (${spec.pkg} exports no ${spec.name})`;
  return (adapter) => spec.apply(loaded, adapter);
}

/** Every decorator around one adapter, innermost first; the reason instead when one does not load. */
export function loadStack(): Decorate | string {
  const loaded = [...DECORATORS].reverse().map(loadDecorator);
  const missing = loaded.find((each): each is string => typeof each === 'string');
  if (missing) return missing;
  return (adapter) => (loaded as Decorate[]).reduce((inner, decorate) => decorate(inner), adapter);
}
