import { type BackendMeta, type EventMessage, EventportError, redact } from '@eventport/core';
import type { DeadLetter } from '@eventport/dlq';
import pc from 'picocolors';

/** What tail prints: a published message, plus what the delivery adds when it was received. */
export type PrintableMessage = EventMessage & { source?: string; attempt?: number; group?: string; meta?: BackendMeta };

/** JSON-safe data: a Buffer payload becomes { base64 }. */
function printableData(data: unknown): unknown {
  return Buffer.isBuffer(data) ? { base64: data.toString('base64') } : data;
}

/** The JSON object of a message (one NDJSON line); received messages add attempt, group and meta. */
export function messageJson(message: PrintableMessage): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: message.id,
    topic: message.topic,
    key: message.key,
    type: message.type,
    source: message.source,
    headers: message.headers,
    timestamp: message.timestamp,
    data: printableData(message.data),
  };
  if (message.attempt !== undefined) json.attempt = message.attempt;
  if (message.group !== undefined) json.group = message.group;
  if (message.meta !== undefined) json.meta = message.meta;
  return json;
}

/** Pretty, coloured (when the terminal supports it) or one JSON line per message. */
export function formatMessage(message: PrintableMessage, json: boolean): string {
  if (json) return JSON.stringify(messageJson(message));
  const time = new Date(message.timestamp).toISOString();
  const key = message.key ? ` ${pc.yellow(`key=${message.key}`)}` : '';
  const attempt = message.attempt && message.attempt > 1 ? ` ${pc.red(`attempt=${message.attempt}`)}` : '';
  const headers = Object.entries(message.headers)
    .map(([name, value]) => `${pc.dim(name)}=${value}`)
    .join(' ');
  return `${pc.dim(time)} ${pc.cyan(message.topic)} ${pc.dim(message.id)}${key}${attempt}\n  ${JSON.stringify(printableData(message.data))}${headers ? `\n  ${headers}` : ''}`;
}

/** The placeholders of `tail --format`, modelled on kcat's -f. */
export const FORMAT_PLACEHOLDERS: Readonly<Record<string, string>> = {
  T: 'topic',
  k: 'key (empty without one)',
  s: 'data: a string as it is, a Buffer as base64, anything else as JSON',
  h: 'headers as JSON',
  a: 'attempt (1 on first delivery)',
  p: 'broker position (partition/offset, stream id, ...) as JSON',
  t: 'time the message was published, ISO 8601',
  i: 'id',
  g: 'consumer group',
  '%': 'a literal %',
};

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '\\': '\\' };

type Part = string | ((message: PrintableMessage) => string);

const RENDER: Readonly<Record<string, (message: PrintableMessage) => string>> = {
  T: (message) => message.topic,
  k: (message) => message.key ?? '',
  s: (message) =>
    typeof message.data === 'string'
      ? message.data
      : Buffer.isBuffer(message.data)
        ? message.data.toString('base64')
        : (JSON.stringify(message.data) ?? ''),
  h: (message) => JSON.stringify(message.headers),
  a: (message) => String(message.attempt ?? 1),
  p: (message) => JSON.stringify(message.meta ?? {}),
  t: (message) => new Date(message.timestamp).toISOString(),
  i: (message) => message.id,
  g: (message) => message.group ?? '',
};

/**
 * Compiles a `--format` string once: %T %k %s %h %a %p %t %i %g and %% are placeholders, \n \t \r \\
 * escapes. Every message ends with a newline unless the format already ends with one. An unknown
 * placeholder is a usage error.
 */
export function compileFormat(format: string): (message: PrintableMessage) => string {
  const parts: Part[] = [];
  let text = '';
  for (let index = 0; index < format.length; index++) {
    const char = format[index] as string;
    const next = format[index + 1];
    if (char === '\\' && next !== undefined && ESCAPES[next] !== undefined) {
      text += ESCAPES[next];
      index++;
    } else if (char === '%') {
      if (next === '%') {
        text += '%';
      } else if (next !== undefined && RENDER[next]) {
        if (text) parts.push(text);
        text = '';
        parts.push(RENDER[next] as Part);
      } else {
        const known = Object.keys(FORMAT_PLACEHOLDERS)
          .map((name) => `%${name}`)
          .join(' ');
        throw new EventportError(
          'INVALID_ARGUMENT',
          `--format: unknown placeholder "%${next ?? ''}" (known: ${known}; escapes \\n \\t \\r \\\\)`,
        );
      }
      index++;
    } else {
      text += char;
    }
  }
  if (!text.endsWith('\n')) text += '\n';
  parts.push(text);
  return (message) => parts.map((part) => (typeof part === 'string' ? part : part(message))).join('');
}

/** One line: `CODE: message`, where non-eventport errors show their own code, else INTERNAL. */
export function errorLine(error: unknown): string {
  if (error instanceof EventportError) return `${error.code}: ${error.message}`;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return `${typeof code === 'string' && code !== '' ? code : 'INTERNAL'}: ${redact(message)}`;
}

export function printError(stderr: NodeJS.WritableStream, error: unknown): void {
  stderr.write(`${pc.red('eventport:')} ${errorLine(error)}\n`);
}

/** Rewrites one status line on a terminal (every 100 items), prints a final line otherwise. */
export function progress(stderr: NodeJS.WritableStream, verb: string): (count: number, final?: boolean) => void {
  const interactive = (stderr as NodeJS.WriteStream).isTTY === true;
  return (count, final = false) => {
    if (final) stderr.write(`${interactive ? '\r' : ''}${verb} ${count}\n`);
    else if (interactive && count % 100 === 0) stderr.write(`\r${verb} ${count}…`);
  };
}

/**
 * A dead letter's error, once: the message recorded in the dlq-error-message header starts with the
 * error's class ("Error: boom"); what is shown is the code when there is one, else the class, then the
 * message without that prefix.
 */
export function deadLetterError(letter: DeadLetter): { label: string; message: string } {
  const { class: errorClass, code } = letter.error;
  let message = letter.error.message;
  if (errorClass && message.startsWith(`${errorClass}: `)) message = message.slice(errorClass.length + 2);
  return { label: code || errorClass || 'Error', message };
}

export function formatDeadLetter(letter: DeadLetter, json: boolean): string {
  const { label, message } = deadLetterError(letter);
  if (json) {
    return JSON.stringify({
      ...messageJson(letter),
      reason: letter.reason,
      attempts: letter.attempts,
      error: { class: letter.error.class, ...(letter.error.code ? { code: letter.error.code } : {}), message },
      ...(letter.firstFailureAt ? { firstFailureAt: letter.firstFailureAt.toISOString() } : {}),
      ...(letter.lastFailureAt ? { lastFailureAt: letter.lastFailureAt.toISOString() } : {}),
    });
  }
  const why = `${letter.reason} after ${letter.attempts} attempt(s): ${label}: ${message}`;
  return `${formatMessage(letter, false)}\n  ${pc.red(why)}`;
}
