import {
  CORRELATION_HEADER,
  describeError,
  type Headers,
  isEventportError,
  type PublishInput,
  redact,
} from '@eventport/core';
import {
  type Attributes,
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';

/**
 * OpenTelemetry messaging semantic-convention attribute names. Copied rather than imported: they are
 * still incubating in @opentelemetry/semantic-conventions, and the API package is our only OTel dependency.
 */
const ATTR = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  messageId: 'messaging.message.id',
  conversationId: 'messaging.message.conversation_id',
  consumerGroup: 'messaging.consumer.group.name',
  batchCount: 'messaging.batch.message_count',
  errorType: 'error.type',
  attempt: 'eventport.delivery.attempt',
} as const;

/** Backend names mapped to the semantic conventions' well-known messaging.system values where one exists. */
const MESSAGING_SYSTEMS: Record<string, string> = {
  kafka: 'kafka',
  rabbitmq: 'rabbitmq',
  pubsub: 'gcp_pubsub',
};

const TRACER_NAME = '@eventport/metrics';

export interface TracingOptions {
  /** Default: the global provider (a no-op until an OpenTelemetry SDK registers one). */
  tracerProvider?: TracerProvider;
  /** Default: the global propagator (a no-op until an SDK registers one, typically W3C trace context). */
  propagator?: TextMapPropagator;
}

export interface ConsumedDelivery {
  topic: string;
  group: string;
  headers: Headers;
  id?: string;
  attempt: number;
}

/** Producer and consumer spans plus header propagation, through @opentelemetry/api only. */
export class Tracing {
  private readonly tracer: Tracer;
  private readonly propagator: TextMapPropagator;
  private readonly system: string;

  constructor(backend: string, options: TracingOptions) {
    this.system = MESSAGING_SYSTEMS[backend] ?? backend;
    // A ProxyTracer when no SDK is registered yet: it starts recording once one is.
    this.tracer = (options.tracerProvider ?? trace).getTracer(TRACER_NAME);
    this.propagator = options.propagator ?? propagation;
  }

  /**
   * Starts the producer span of one message and returns the input to publish: its headers carry the
   * span's context (traceparent/tracestate with the W3C propagator). The parent is the active span,
   * else a context already in the message's headers (a forwarded message keeps its trace).
   */
  startPublish<T>(input: PublishInput<T>, batchSize: number): { span: Span; input: PublishInput<T> } {
    const topic = typeof input?.topic === 'string' ? input.topic : '';
    const active = context.active();
    const headers = isHeaderObject(input?.headers) ? input.headers : undefined;
    const parent =
      trace.getSpan(active) || headers === undefined
        ? active
        : this.propagator.extract(active, headers, defaultTextMapGetter);
    const attributes: Attributes = {
      [ATTR.system]: this.system,
      [ATTR.destination]: topic,
      [ATTR.operationType]: 'send',
      [ATTR.operationName]: 'send',
    };
    if (batchSize > 1) attributes[ATTR.batchCount] = batchSize;
    if (typeof input?.id === 'string') attributes[ATTR.messageId] = input.id;
    const span = this.tracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER, attributes }, parent);
    const carrier: Headers = {};
    this.propagator.inject(trace.setSpan(parent, span), carrier, defaultTextMapSetter);
    // Nothing to add (no propagator, or no valid span context): hand the caller's object through untouched.
    // Malformed headers are left for the adapter's validation to reject, never "repaired" here.
    if (Object.keys(carrier).length === 0 || (input?.headers !== undefined && headers === undefined)) {
      return { span, input };
    }
    return { span, input: { ...input, headers: { ...headers, ...carrier } } };
  }

  endPublish(span: Span, messageId: string): void {
    span.setAttribute(ATTR.messageId, messageId);
    span.end();
  }

  failPublish(span: Span, error: unknown): void {
    fail(span, error);
    span.end();
  }

  /** The consumer span, child of the producer context found in the headers; `context` is where the handler runs. */
  startConsume(delivery: ConsumedDelivery): { span: Span; context: Context } {
    // From ROOT, not the active context: a subscription's fetch loop may still carry the context of
    // whatever called subscribe(), and that is not this message's parent.
    const parent = this.propagator.extract(ROOT_CONTEXT, delivery.headers, defaultTextMapGetter);
    const attributes: Attributes = {
      [ATTR.system]: this.system,
      [ATTR.destination]: delivery.topic,
      [ATTR.operationType]: 'process',
      [ATTR.operationName]: 'process',
      [ATTR.consumerGroup]: delivery.group,
      [ATTR.attempt]: delivery.attempt,
    };
    if (delivery.id) attributes[ATTR.messageId] = delivery.id;
    const conversationId = delivery.headers[CORRELATION_HEADER];
    if (conversationId) attributes[ATTR.conversationId] = conversationId;
    const span = this.tracer.startSpan(`process ${delivery.topic}`, { kind: SpanKind.CONSUMER, attributes }, parent);
    return { span, context: trace.setSpan(parent, span) };
  }

  /**
   * Runs the handler in the consumer span's context. Where there is no trace to carry (no SDK
   * recording and none in the headers or around the loop), it runs as it is: switching contexts per
   * message was a tenth of the decorator's cost.
   */
  runInConsume<R>(consumer: { span: Span; context: Context }, handler: () => R): R {
    const carries = isSpanContextValid(consumer.span.spanContext()) || trace.getSpan(context.active()) !== undefined;
    return carries ? context.with(consumer.context, handler) : handler();
  }

  endConsume(span: Span, outcome: 'ack' | 'nack' | 'invalid', error?: unknown): void {
    span.setAttribute('eventport.outcome', outcome);
    if (outcome !== 'ack') fail(span, error);
    span.end();
  }
}

/** `error` is undefined for an explicit nack(): a failure the handler reported without throwing. */
function fail(span: Span, error: unknown): void {
  if (error instanceof Error) {
    span.recordException({ name: error.name, message: redact(error.message), stack: redact(error.stack ?? '') });
  }
  const type = isEventportError(error) ? error.code : error instanceof Error ? error.name : 'nack';
  span.setAttribute(ATTR.errorType, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error === undefined ? 'nacked' : describeError(error) });
}

function isHeaderObject(value: unknown): value is Headers {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
