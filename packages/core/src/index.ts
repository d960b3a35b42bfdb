export type {
  ConsumeOptions,
  EventAdapter,
  HealthStatus,
  InvalidDelivery,
  InvalidMessageHook,
  MessageHandler,
  MessageStream,
  SubscribeOptions,
  Subscription,
} from './adapter.js';
export type { Capabilities } from './capabilities.js';
export { type ChannelHandler, EventChannel, type EventChannelOptions, type PushOptions } from './channel.js';
export { BINARY_CONTENT_TYPE, type Codec, JSON_CONTENT_TYPE, jsonCodec } from './codec.js';
export {
  BACKEND_CONFIG,
  type BackendConfig,
  type BuiltinBackend,
  type KafkaConfig,
  type KinesisConfig,
  loadBackendConfig,
  type PubSubConfig,
  type RabbitMqConfig,
  type RedisStreamsConfig,
} from './config.js';
export {
  CAUSATION_HEADER,
  CORRELATION_HEADER,
  correlationHeaders,
  currentMessageContext,
  runInMessageContext,
  runOutsideMessageContext,
} from './context.js';
export type {
  CreateTopicOptions,
  Driver,
  DriverSubscribeOptions,
  DriverSubscription,
  IncomingRecord,
  OutgoingRecord,
  RecordSink,
} from './driver.js';
export {
  describeError,
  ERROR_CODES,
  type ErrorCode,
  EventportError,
  InvalidMessageError,
  isEventportError,
  redact,
  toEventportError,
} from './errors.js';
export {
  type AdapterFactory,
  availableBackends,
  type BackendDefinition,
  createAdapter,
  registerAdapter,
} from './factory.js';
export { ForwardingAdapter, findDecorator } from './forwarding.js';
export { consoleLogger, type Logger, type LogLevel, silentLogger } from './logger.js';
export {
  type BackendMeta,
  type EventMessage,
  EventMessageSchema,
  type Headers,
  HeadersSchema,
  type PublishInput,
  PublishInputSchema,
  RESERVED_HEADERS,
  type ReceivedMessage,
  TopicSchema,
} from './message.js';
export { type AdapterOptions, createPortableAdapter } from './portable/adapter.js';
export { defaultRedeliveryDelayMs } from './portable/dispatcher.js';
export { OffsetTracker } from './portable/offsets.js';
export { Semaphore } from './portable/semaphore.js';
export { messageStream } from './portable/stream.js';
export { backoffDelay, pause } from './timing.js';
export { formatZodError, numericOption, parseOptions } from './validation.js';
export {
  defineEvent,
  EVENT_VERSION_HEADER,
  type Upcaster,
  VersionedEvent,
  type VersionedEventOptions,
} from './versioning.js';
