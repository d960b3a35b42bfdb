import type { ErrorClassification } from './driver.js';

/**
 * Every error that leaves eventport is an EventportError with a stable `code`, so callers branch on
 * the code rather than on a broker's message text. Messages never carry credentials: everything that
 * goes into one passes through `redact`.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT', // the caller passed something malformed (topic, header, option)
  'INVALID_CONFIG', // configuration (usually an env var) failed validation
  'INVALID_MESSAGE', // a received payload could not be decoded or failed its schema
  'PAYLOAD_TOO_LARGE',
  'UNKNOWN_BACKEND', // EVENT_TYPE names no registered backend
  'BACKEND_NOT_INSTALLED', // EVENT_TYPE names a backend whose package is missing
  'CONNECTION', // the broker cannot be reached or dropped the connection
  'TIMEOUT',
  'NOT_FOUND', // topic / subscription does not exist
  'ALREADY_EXISTS',
  'CONFLICT', // an optimistic-concurrency check failed (expected version differs)
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', // throttled or quota exceeded
  'CLOSED', // the adapter or subscription was closed
  'CIRCUIT_OPEN',
  'UNSUPPORTED', // the backend lacks the capability
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['CONNECTION', 'TIMEOUT', 'RESOURCE_EXHAUSTED']);

export interface EventportErrorOptions {
  cause?: unknown;
  /** Overrides the default, which is derived from the code. */
  retryable?: boolean;
}

export class EventportError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: EventportErrorOptions = {}) {
    super(redact(message), options.cause === undefined ? undefined : { cause: sanitizeError(options.cause) });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
  }
}

/** A received message that cannot be handed to a handler: not decodable, or rejected by a schema. */
export class InvalidMessageError extends EventportError {
  constructor(message: string, options: EventportErrorOptions = {}) {
    super('INVALID_MESSAGE', message, { ...options, retryable: false });
  }
}

export function isEventportError(error: unknown, code?: ErrorCode): error is EventportError {
  return error instanceof EventportError && (code === undefined || error.code === code);
}

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*)(:[^\s/@]*)?@/gi;
const SECRET_ASSIGNMENT =
  /\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|authorization|private[_-]?key)(["']?\s*[:=]\s*["']?)([^\s"',;&}]+)/gi;

/** Removes user:password from URLs and the values of secret-looking key=value pairs. */
export function redact(text: string): string {
  return text
    .replace(URL_CREDENTIALS, (_m, scheme: string, user: string, pass?: string) =>
      pass ? `${scheme}${user ? `${user}:` : ''}***@` : `${scheme}***@`,
    )
    .replace(SECRET_ASSIGNMENT, (_m, key: string, sep: string) => `${key}${sep}***`);
}

const MAX_CAUSE_DEPTH = 8;

/**
 * A copy of a foreign error that keeps only what helps debugging (name, redacted message and stack,
 * code, errno, syscall, the sanitised cause chain) and drops everything else a client library may have
 * attached, such as the command it sent with its arguments (ioredis keeps AUTH user and password there).
 * So no serialiser (JSON.stringify, util.inspect at any depth, a logger) can print a credential.
 */
export function sanitizeError(error: unknown, depth = 0): unknown {
  if (error instanceof EventportError) return error;
  if (depth >= MAX_CAUSE_DEPTH) return undefined;
  if (!(error instanceof Error)) {
    return typeof error === 'string'
      ? redact(error)
      : error === undefined || error === null
        ? error
        : redact(String(error));
  }
  const cause = (error as { cause?: unknown }).cause;
  const copy = new Error(
    redact(error.message),
    cause === undefined ? undefined : { cause: sanitizeError(cause, depth + 1) },
  );
  copy.name = error.name;
  copy.stack = error.stack === undefined ? undefined : redact(error.stack);
  for (const field of ['code', 'errno', 'syscall', 'statusCode'] as const) {
    const value = (error as unknown as Record<string, unknown>)[field];
    if (typeof value === 'string' || typeof value === 'number') {
      (copy as unknown as Record<string, unknown>)[field] = typeof value === 'string' ? redact(value) : value;
    }
  }
  if (error instanceof AggregateError) {
    Object.defineProperty(copy, 'errors', {
      value: error.errors.slice(0, 10).map((inner) => sanitizeError(inner, depth + 1)),
      enumerable: true,
    });
  }
  return copy;
}

/** The value `parse` returns, or `fallback` if it throws: for decoding what a foreign producer wrote. */
export function tryOr<T>(parse: () => T, fallback: T): T {
  try {
    return parse();
  } catch {
    return fallback;
  }
}

/** `error` and its causes, outermost first (at most MAX_CAUSE_DEPTH): for finding a client's error in its wrappers. */
export function causeChain(error: unknown): ErrorLink[] {
  const chain: ErrorLink[] = [];
  for (let link = error; typeof link === 'object' && link !== null && chain.length < MAX_CAUSE_DEPTH; ) {
    chain.push(link as ErrorLink);
    link = (link as ErrorLink).cause;
  }
  return chain;
}

/** A socket or DNS error code, as a link's `code` or inside a wrapper's message: a new connection may succeed. */
const NETWORK_ERROR = /\bE(CONNREFUSED|CONNRESET|CONNABORTED|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|NOTFOUND|AI_AGAIN)\b/;

/** What no driver has to name: a socket error, or a deadline's TimeoutError (AbortSignal.timeout's reason). */
function needsNoRule(link: ErrorLink, message: string): ErrorCode | undefined {
  if (NETWORK_ERROR.test(`${String(link.code)} ${message}`)) return 'CONNECTION';
  return link.name === 'TimeoutError' ? 'TIMEOUT' : undefined;
}

/** A link of a client error's chain: any thrown object, its fields readable. */
export type ErrorLink = Record<string, unknown> & { name?: unknown; message?: unknown; code?: unknown };

/**
 * Classifies a client error through its wrappers, so a driver writes only what its client's errors
 * mean. Links are visited outermost first, depth-first: the error, its `cause`, an AggregateError's
 * `errors`, and whatever `inner` names (a client's own wrapper fields). The first link that says
 * something decides: an EventportError by its own code, else `byLink` (a code alone is retryable as
 * an EventportError with that code is), else a socket error code (CONNECTION) or a deadline's
 * TimeoutError (TIMEOUT). Undefined when no link does.
 */
export function classifyThrough(
  error: unknown,
  byLink: (link: ErrorLink, message: string) => ErrorCode | ErrorClassification | undefined,
  inner: (link: ErrorLink) => unknown[] = () => [],
): ErrorClassification | undefined {
  const seen = new Set<unknown>();
  const visit = (link: unknown): ErrorClassification | undefined => {
    if (typeof link !== 'object' || link === null || seen.has(link) || seen.size >= MAX_CAUSE_DEPTH) return undefined;
    seen.add(link);
    if (link instanceof EventportError) return { code: link.code, retryable: link.retryable };
    const fields = link as ErrorLink;
    const message = typeof fields.message === 'string' ? fields.message : '';
    const found = byLink(fields, message) ?? needsNoRule(fields, message);
    if (typeof found === 'string') return { code: found, retryable: RETRYABLE.has(found) };
    if (found) return found;
    const errors = Array.isArray(fields.errors) ? fields.errors : [];
    for (const next of [fields.cause, ...errors, ...inner(fields)]) {
      const decided = visit(next);
      if (decided) return decided;
    }
    return undefined;
  };
  return visit(error);
}

/** Redacted text of any thrown value, for logs and wrapped errors. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return redact(`${error.name}: ${error.message}`);
  return redact(String(error));
}

/**
 * Wraps a foreign error once. An EventportError passes through unchanged so a stack of decorators
 * never double-wraps.
 */
export function toEventportError(
  error: unknown,
  code: ErrorCode,
  context: string,
  retryable?: boolean,
): EventportError {
  if (error instanceof EventportError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new EventportError(code, `${context}: ${detail}`, { cause: error, retryable });
}
