export type {
  ConsumeOptions,
  ConsumerLag,
  EventAdapter,
  HealthStatus,
  InvalidDelivery,
  InvalidMessageHook,
  MessageHandler,
  MessageStream,
  Settlement,
  SubscribeOptions,
  Subscription,
  SubscriptionHealth,
} from './adapter.js';
export type { Capabilities } from './capabilities.js';
export { type ChannelHandler, EventChannel, type EventChannelOptions, type PushOptions } from './channel.js';
export { BINARY_CONTENT_TYPE, type Codec, JSON_CONTENT_TYPE, jsonCodec } from './codec.js';
export { type BackendConfigSource, configFields, loadBackendConfig } from './config.js';
export {
  CAUSATION_HEADER,
  CORRELATION_HEADER,
  correlationHeaders,
  currentMessageContext,
  runInMessageContext,
  runOutsideMessageContext,
} from './context.js';
export {
  ABORT_GRACE_MS,
  abortable,
  DEFAULT_DEADLINES,
  type Deadlines,
  withAbortion,
  withDeadline,
} from './deadline.js';
export {
  type CreateTopicOptions,
  type Driver,
  type ErrorClassification,
  type IncomingRecord,
  type OutgoingRecord,
  type Receiver,
  type ReceiverOptions,
  SENT,
  type SendResult,
  sendEach,
} from './driver.js';
export {
  causeChain,
  classifyThrough,
  describeError,
  ERROR_CODES,
  type ErrorCode,
  type ErrorLink,
  EventportError,
  InvalidMessageError,
  isEventportError,
  redact,
  sanitizeError,
  toEventportError,
  tryOr,
} from './errors.js';
export {
  type AdapterFactory,
  availableBackends,
  type BackendDefinition,
  backendAdapter,
  backendDriver,
  backendPackage,
  createAdapter,
  registerAdapter,
  registerBackend,
} from './factory.js';
export { ForwardingAdapter, findDecorator, subscriptionWithClose } from './forwarding.js';
export {
  consoleLogger,
  type FieldsFirstLogger,
  fieldsFirst,
  type Logger,
  type LogLevel,
  silentLogger,
} from './logger.js';
export {
  type BackendMeta,
  CLOUDEVENTS_SPEC_VERSION,
  cloudEventsHeaders,
  type EventMessage,
  EventMessageSchema,
  type Headers,
  HeadersSchema,
  isReservedHeader,
  isValidPublishInput,
  type PublishInput,
  PublishInputSchema,
  RESERVED_HEADERS,
  type ReceivedMessage,
  TopicSchema,
} from './message.js';
export {
  type AdapterOptions,
  createPortableAdapter,
  PORTABLE_OPTION_KEYS,
  splitAdapterOptions,
} from './portable/adapter.js';
export { UNSETTLED_PER_HANDLER } from './portable/consumer.js';
export { OffsetLog } from './portable/offset-log.js';
export { PushBuffer } from './portable/push-buffer.js';
export { messageStream } from './portable/stream.js';
export { defaultRedeliveryDelayMs, isGroupName } from './portable/subscribe-options.js';
export {
  DEFAULT_SHUTDOWN_GRACE_MS,
  type ShutdownHandle,
  type ShutdownOptions,
  type ShutdownResult,
  shutdownOnSignals,
} from './shutdown.js';
export { formatIssues, type StandardSchemaV1 } from './standard-schema.js';
export { backoffDelay, pause, retryWithin } from './timing.js';
export { closestName, formatZodError, numericOption, parseOptions, rejectUnknownKeys } from './validation.js';
export {
  defineEvent,
  EVENT_VERSION_HEADER,
  type Upcaster,
  VersionedEvent,
  type VersionedEventOptions,
} from './versioning.js';
