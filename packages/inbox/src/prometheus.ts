import { EventportError } from '@eventport/core';

export const INBOX_METRIC_NAMES = {
  duplicates: 'eventport_inbox_duplicates_total',
} as const;

/**
 * The part of a prom-client `Registry` the inbox uses. Typed structurally so that importing
 * @eventport/inbox never needs prom-client; it is loaded only when a registry is passed.
 */
export interface PromRegistry {
  getSingleMetric(name: string): unknown;
  registerMetric(metric: never): void;
}

type DuplicateLabel = 'topic' | 'group' | 'store';

export interface DuplicateCounter {
  inc(labels: Record<DuplicateLabel, string>, value?: number): void;
}

interface PromClientModule {
  Counter: new (configuration: {
    name: string;
    help: string;
    labelNames: readonly DuplicateLabel[];
    registers: PromRegistry[];
  }) => DuplicateCounter;
}

/**
 * `eventport_inbox_duplicates_total{topic, group, store}` in `registry`, created on first use and
 * shared by every inbox registered against it (as @eventport/metrics does with its own metrics).
 */
export function duplicateCounter(registry: PromRegistry): DuplicateCounter {
  const existing = registry.getSingleMetric(INBOX_METRIC_NAMES.duplicates) as DuplicateCounter | undefined;
  if (existing) return existing;
  let promClient: PromClientModule;
  try {
    // An optional peer dependency: whoever hands us a registry has prom-client installed.
    promClient = require('prom-client') as PromClientModule;
  } catch (error) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      'a metrics registry was passed to the inbox, but prom-client cannot be loaded: npm install prom-client',
      { cause: error },
    );
  }
  return new promClient.Counter({
    name: INBOX_METRIC_NAMES.duplicates,
    help: 'Deliveries the inbox acked without running the handler: their (group, key) was already recorded',
    labelNames: ['topic', 'group', 'store'],
    registers: [registry],
  });
}
