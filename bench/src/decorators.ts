import type { EventAdapter } from '@eventport/core';

export interface DecoratorSpec {
  name: string;
  pkg: string;
  exportName: string;
}

export const DECORATORS: readonly DecoratorSpec[] = [
  { name: 'withMetrics', pkg: '@eventport/metrics', exportName: 'withMetrics' },
  { name: 'withCircuitBreaker', pkg: '@eventport/circuit-breaker', exportName: 'withCircuitBreaker' },
  { name: 'withDeadLetters', pkg: '@eventport/dlq', exportName: 'withDeadLetters' },
];

export type Decorate = (adapter: EventAdapter) => EventAdapter;

/**
 * Loads a decorator at run time, so the bench builds and runs while its package is missing or not
 * built: returns the reason instead of throwing.
 */
export function loadDecorator(spec: DecoratorSpec): Decorate | string {
  let loaded: Record<string, unknown>;
  try {
    loaded = require(spec.pkg) as Record<string, unknown>;
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    const code = (error as { code?: string }).code;
    return code === 'MODULE_NOT_FOUND' && (message.includes(spec.pkg) || message.includes('/dist/'))
      ? 'n/a (package not built)'
      : `n/a (${spec.pkg} does not load: ${message})`;
  }
  const decorate = loaded[spec.exportName];
  if (typeof decorate !== 'function') return `n/a (${spec.pkg} exports no ${spec.exportName})`;
  return (adapter) => (decorate as (adapter: EventAdapter) => EventAdapter)(adapter);
}
