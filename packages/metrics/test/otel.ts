/**
 * Just enough of an OpenTelemetry SDK for tests (the real SDK is not a dependency): a W3C
 * trace-context propagator, a tracer that records spans, and an AsyncLocalStorage context manager.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import {
  type Attributes,
  type Context,
  type ContextManager,
  context,
  createTraceState,
  type Exception,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export class W3CTestPropagator implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const spanContext = trace.getSpanContext(ctx);
    if (!spanContext || !isSpanContextValid(spanContext)) return;
    const flags = `0${(spanContext.traceFlags & 0xff).toString(16)}`.slice(-2);
    setter.set(carrier, 'traceparent', `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`);
    const state = spanContext.traceState?.serialize();
    if (state) setter.set(carrier, 'tracestate', state);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const header = first(getter.get(carrier, 'traceparent'));
    const match = header ? TRACEPARENT.exec(header) : null;
    if (!match) return ctx;
    const state = first(getter.get(carrier, 'tracestate'));
    const spanContext: SpanContext = {
      traceId: match[1] as string,
      spanId: match[2] as string,
      traceFlags: Number.parseInt(match[3] as string, 16),
      isRemote: true,
      ...(state ? { traceState: createTraceState(state) } : {}),
    };
    return trace.setSpanContext(ctx, spanContext);
  }

  fields(): string[] {
    return ['traceparent', 'tracestate'];
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export class RecordedSpan implements Span {
  readonly attributes: Attributes = {};
  readonly exceptions: Exception[] = [];
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  ended = false;
  private readonly context: SpanContext;

  constructor(
    public name: string,
    readonly kind: SpanKind,
    readonly parent: SpanContext | undefined,
    attributes: Attributes | undefined,
  ) {
    this.context = {
      traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      traceFlags: 1,
      ...(parent?.traceState ? { traceState: parent.traceState } : {}),
    };
    Object.assign(this.attributes, attributes);
  }

  spanContext(): SpanContext {
    return this.context;
  }
  setAttribute(key: string, value: Attributes[string]): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(name: string): this {
    this.name = name;
    return this;
  }
  end(): void {
    this.ended = true;
  }
  isRecording(): boolean {
    return !this.ended;
  }
  recordException(exception: Exception): void {
    this.exceptions.push(exception);
  }
}

export class RecordingTracerProvider implements TracerProvider {
  readonly spans: RecordedSpan[] = [];

  getTracer(): Tracer {
    const spans = this.spans;
    const startSpan = (name: string, options: SpanOptions = {}, ctx: Context = context.active()): RecordedSpan => {
      const span = new RecordedSpan(
        name,
        options.kind ?? SpanKind.INTERNAL,
        trace.getSpanContext(ctx),
        options.attributes,
      );
      spans.push(span);
      return span;
    };
    return {
      startSpan,
      startActiveSpan: ((name: string, ...rest: unknown[]) => {
        const fn = rest.pop() as (span: Span) => unknown;
        const [options, ctx] = rest as [SpanOptions | undefined, Context | undefined];
        const parent = ctx ?? context.active();
        const span = startSpan(name, options, parent);
        return context.with(trace.setSpan(parent, span), () => fn(span));
      }) as Tracer['startActiveSpan'],
    };
  }

  named(prefix: string): RecordedSpan[] {
    return this.spans.filter((span) => span.name.startsWith(prefix));
  }
}

export class AsyncLocalContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (...args: unknown[]) => this.with(ctx, () => (target as (...a: unknown[]) => unknown)(...args));
    return run as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

/** Registers the three globally, as an application's SDK setup would; returns the span recorder. */
export function installTestOpenTelemetry(): RecordingTracerProvider {
  const provider = new RecordingTracerProvider();
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTestPropagator());
  context.setGlobalContextManager(new AsyncLocalContextManager());
  return provider;
}
