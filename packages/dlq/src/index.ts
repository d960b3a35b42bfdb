export { ConsumerNackError, DeadLetterAdapter, DeliveryLimitError, withDeadLetters } from './decorator.js';
export { type DeadLetterReason, DLQ_HEADERS } from './headers.js';
export { DEFAULT_SUFFIX, type DeadLetterPolicy, REPLAY_GROUP } from './options.js';
export {
  type DeadLetter,
  type ListOptions,
  listDeadLetters,
  parseDeadLetter,
  type ReplayOptions,
  type ReplayResult,
  replay,
  type ScanOptions,
} from './replay.js';
