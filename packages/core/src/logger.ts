import { redact } from './errors.js';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LEVELS)[number];

/** Writes one redacted JSON line per entry to stderr, at or above `level` (EVENTPORT_LOG_LEVEL, default warn). */
export function consoleLogger(level: LogLevel = parseLevel(process.env.EVENTPORT_LOG_LEVEL)): Logger {
  const threshold = LEVELS.indexOf(level);
  const write = (entryLevel: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (LEVELS.indexOf(entryLevel) < threshold) return;
    const line = JSON.stringify({ level: entryLevel, time: new Date().toISOString(), msg: message, ...fields });
    process.stderr.write(`${redact(line)}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function parseLevel(value: string | undefined): LogLevel {
  return (LEVELS as readonly string[]).includes(value ?? '') ? (value as LogLevel) : 'warn';
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The shape of pino, bunyan and other loggers that take the fields first: `log.warn({ topic }, 'message')`. */
export interface FieldsFirstLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * Adapts a fields-first logger (pino, bunyan) to eventport's message-first `Logger`:
 * `createAdapter(type, { logger: fieldsFirst(pino()) })`. Winston and console take the message first and
 * fit as they are. Fields are redacted on the way.
 */
export function fieldsFirst(target: FieldsFirstLogger): Logger {
  const forward = (level: keyof FieldsFirstLogger) => (message: string, fields?: Record<string, unknown>) =>
    target[level](JSON.parse(redact(JSON.stringify(fields ?? {}))) as Record<string, unknown>, redact(message));
  return { debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error') };
}
