export {
  type Metrics,
  type MetricsAdapter,
  type MetricsOptions,
  type MetricsSnapshot,
  withMetrics,
} from './adapter.js';
export { DEFAULT_HANDLER_BUCKETS, DEFAULT_PUBLISH_BUCKETS, METRIC_NAMES } from './instruments.js';
export type { TracingOptions } from './tracing.js';
