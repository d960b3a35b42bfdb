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
    super(redact(message), options.cause === undefined ? undefined : { cause: options.cause });
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
