import type { Registry } from 'prom-client';

/** Sum of a metric's samples whose labels include `labels` (histograms: pass `${name}_count` etc. as sample). */
export async function sampleValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
  sample: string = name,
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return (
    values
      // Histogram samples carry their own name (`_count`, `_sum`, `_bucket`); prom-client's types omit it.
      .filter((entry) => ((entry as { metricName?: string }).metricName ?? name) === sample)
      .filter((entry) => Object.entries(labels).every(([key, value]) => entry.labels[key] === value))
      .reduce((sum, entry) => sum + entry.value, 0)
  );
}
