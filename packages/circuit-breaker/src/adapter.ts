import {
  consoleLogger,
  describeError,
  type EventAdapter,
  type EventMessage,
  EventportError,
  ForwardingAdapter,
  findDecorator,
  type Logger,
  type PublishInput,
} from '@eventport/core';
import {
  type CircuitBreakerPolicy,
  CircuitState as CockatielState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  isBrokenCircuitError,
  type RetryPolicy,
  retry,
  SamplingBreaker,
} from 'cockatiel';
import { CircuitOpenError } from './errors.js';
import {
  type CircuitBreakerOptions,
  type CircuitState,
  type CircuitStateChange,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';

/** What withCircuitBreaker adds to an adapter. */
export interface CircuitBreaker {
  readonly circuitState: CircuitState;
  /** How long calls keep failing fast; 0 unless open. */
  retryAfterMs(): number;
  /** Adds a state-change listener; returns a function that removes it. */
  onStateChange(listener: (change: CircuitStateChange) => void): () => void;
}

export type CircuitBreakerAdapter = EventAdapter & CircuitBreaker;

/**
 * Wraps `adapter` so publish, publishBatch and connect go through one circuit breaker (cockatiel).
 * While open they fail fast with CircuitOpenError and the adapter below is not called at all.
 * Subscriptions are not gated: their drivers reconnect on their own. Applying it again to a chain
 * that already has a breaker returns a view of that breaker instead of stacking a second one.
 */
export function withCircuitBreaker(adapter: EventAdapter, options: CircuitBreakerOptions = {}): CircuitBreakerAdapter {
  const resolved = resolveOptions(options);
  if (adapter instanceof BreakingAdapter) return adapter;
  const existing = findDecorator(adapter, BreakingAdapter);
  if (existing) return new BreakerView(adapter, existing);
  return new BreakingAdapter(adapter, resolved, options.logger ?? consoleLogger());
}

interface HeldPublish {
  size: number;
  send: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const STATE_NAMES: Record<CockatielState, CircuitState> = {
  [CockatielState.Closed]: 'closed',
  [CockatielState.Open]: 'open',
  [CockatielState.HalfOpen]: 'half-open',
  // Never entered: the decorator does not expose cockatiel's manual isolate().
  [CockatielState.Isolated]: 'open',
};

class BreakingAdapter extends ForwardingAdapter implements CircuitBreaker {
  private readonly breaker: CircuitBreakerPolicy;
  private readonly connectRetry: RetryPolicy;
  private readonly listeners = new Set<(change: CircuitStateChange) => void>();
  private state: CircuitState = 'closed';
  private openedAt = 0;
  private lastFailure: unknown;
  private readonly held: HeldPublish[] = [];
  private heldMessages = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  private disconnecting = false;

  constructor(
    inner: EventAdapter,
    private readonly options: ResolvedOptions,
    private readonly logger: Logger,
  ) {
    super(inner);
    const { policy } = options;
    this.breaker = circuitBreaker(
      handleWhen((error) => options.isFailure(error)),
      {
        halfOpenAfter: options.halfOpenAfterMs,
        breaker:
          policy.kind === 'consecutive'
            ? new ConsecutiveBreaker(policy.failures)
            : new SamplingBreaker({
                threshold: policy.threshold,
                duration: policy.windowMs,
                minimumRps: policy.minimumRps,
              }),
      },
    );
    this.breaker.onBreak((reason) => {
      this.openedAt = Date.now();
      this.lastFailure = 'error' in reason ? reason.error : undefined;
    });
    this.breaker.onStateChange((state) => this.transition(STATE_NAMES[state]));
    if (options.onStateChange) this.listeners.add(options.onStateChange);
    // An open circuit ends the retries at once: CircuitOpenError is never a failure to retry.
    this.connectRetry = retry(
      handleWhen((error) => !(error instanceof CircuitOpenError) && options.isFailure(error)),
      {
        maxAttempts: options.connectRetry.attempts - 1,
        backoff: new ExponentialBackoff({
          initialDelay: options.connectRetry.initialDelayMs,
          maxDelay: options.connectRetry.maxDelayMs,
        }),
      },
    );
  }

  get circuitState(): CircuitState {
    return this.state;
  }

  retryAfterMs(): number {
    if (this.state !== 'open') return 0;
    return Math.max(0, this.openedAt + this.options.halfOpenAfterMs - Date.now());
  }

  onStateChange(listener: (change: CircuitStateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  override connect(): Promise<void> {
    return this.connectRetry.execute(() => this.guarded(() => this.inner.connect()));
  }

  override async disconnect(): Promise<void> {
    this.disconnecting = true;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const abandoned = this.held.splice(0);
    this.heldMessages = 0;
    for (const publish of abandoned) publish.reject(this.notSentError());
    await super.disconnect();
  }

  override publish<T>(message: PublishInput<T>): Promise<EventMessage<T>> {
    return this.send(1, () => this.inner.publish(message));
  }

  override publishBatch<T>(messages: readonly PublishInput<T>[]): Promise<EventMessage<T>[]> {
    return this.send(messages.length, () => this.inner.publishBatch(messages));
  }

  private async send<R>(size: number, operation: () => Promise<R>): Promise<R> {
    // Once anything is held, later publishes queue behind it so they cannot overtake it.
    if (this.held.length > 0) return this.hold(size, operation, this.openError());
    try {
      return await this.guarded(operation);
    } catch (error) {
      if (error instanceof CircuitOpenError) return this.hold(size, operation, error);
      throw error;
    }
  }

  private hold<R>(size: number, operation: () => Promise<R>, openError: CircuitOpenError): Promise<R> {
    const buffer = this.options.bufferWhileOpen;
    if (buffer && this.disconnecting) return Promise.reject(this.notSentError());
    if (!buffer || this.heldMessages + size > buffer.maxMessages) return Promise.reject(openError);
    this.heldMessages += size;
    const held = new Promise<R>((resolve, reject) => {
      this.held.push({ size, send: operation, resolve: resolve as (value: unknown) => void, reject });
    });
    this.scheduleFlush();
    return held;
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.flushing) return;
    // Not unref'd: a process must not exit while it holds publishes its caller is awaiting.
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, this.retryAfterMs());
  }

  /** Sends held publishes in order; the first one after the cool-down is the half-open probe. */
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      for (let next = this.held[0]; next !== undefined; next = this.held[0]) {
        let outcome: { value: unknown } | { error: unknown };
        try {
          outcome = { value: await this.guarded(next.send) };
        } catch (error) {
          if (error instanceof CircuitOpenError) break;
          outcome = { error };
        }
        this.held.shift();
        this.heldMessages -= next.size;
        if ('value' in outcome) next.resolve(outcome.value);
        else next.reject(outcome.error);
      }
    } finally {
      this.flushing = false;
    }
    if (this.held.length > 0) this.scheduleFlush();
  }

  private async guarded<R>(operation: () => Promise<R>): Promise<R> {
    try {
      return await this.breaker.execute(() => operation());
    } catch (error) {
      if (isBrokenCircuitError(error)) throw this.openError();
      throw error;
    }
  }

  private openError(): CircuitOpenError {
    return new CircuitOpenError(this.backend, this.retryAfterMs(), this.lastFailure);
  }

  private notSentError(): EventportError {
    return new EventportError(
      'CLOSED',
      `disconnected while the open circuit held this publish; it was not sent to ${this.backend}`,
      { cause: this.lastFailure },
    );
  }

  private transition(to: CircuitState): void {
    const change: CircuitStateChange = { from: this.state, to, at: Date.now() };
    if (to === 'open') {
      change.retryAfterMs = this.options.halfOpenAfterMs;
      change.cause = this.lastFailure;
    }
    this.state = to;
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.logger.warn('circuit breaker state-change listener failed', { error: describeError(error) });
      }
    }
  }
}

/** A second withCircuitBreaker over a chain that has one: forwards everything and reports the first breaker. */
class BreakerView extends ForwardingAdapter implements CircuitBreaker {
  constructor(
    inner: EventAdapter,
    private readonly breaker: BreakingAdapter,
  ) {
    super(inner);
  }

  get circuitState(): CircuitState {
    return this.breaker.circuitState;
  }

  retryAfterMs(): number {
    return this.breaker.retryAfterMs();
  }

  onStateChange(listener: (change: CircuitStateChange) => void): () => void {
    return this.breaker.onStateChange(listener);
  }
}
