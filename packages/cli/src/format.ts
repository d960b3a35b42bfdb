import type { EventMessage, EventportError } from '@eventport/core';
import type { DeadLetter } from '@eventport/dlq';
import pc from 'picocolors';

/** Pretty, coloured (when the terminal supports it) or one JSON line per message. */
export function formatMessage(message: EventMessage & { attempt?: number }, json: boolean): string {
  const data = Buffer.isBuffer(message.data) ? { base64: message.data.toString('base64') } : message.data;
  if (json) {
    return JSON.stringify({
      id: message.id,
      topic: message.topic,
      key: message.key,
      headers: message.headers,
      timestamp: message.timestamp,
      data,
    });
  }
  const time = new Date(message.timestamp).toISOString();
  const key = message.key ? ` ${pc.yellow(`key=${message.key}`)}` : '';
  const attempt = message.attempt && message.attempt > 1 ? ` ${pc.red(`attempt=${message.attempt}`)}` : '';
  const headers = Object.entries(message.headers)
    .map(([name, value]) => `${pc.dim(name)}=${value}`)
    .join(' ');
  return `${pc.dim(time)} ${pc.cyan(message.topic)} ${pc.dim(message.id)}${key}${attempt}\n  ${JSON.stringify(data)}${headers ? `\n  ${headers}` : ''}`;
}

export function printError(stderr: NodeJS.WritableStream, error: EventportError | Error): void {
  const code = 'code' in error ? `${error.code}: ` : '';
  stderr.write(`${pc.red('eventport:')} ${code}${error.message}\n`);
}

/** Rewrites one status line on a terminal (every 100 items), prints a final line otherwise. */
export function progress(stderr: NodeJS.WritableStream, verb: string): (count: number, final?: boolean) => void {
  const interactive = (stderr as NodeJS.WriteStream).isTTY === true;
  return (count, final = false) => {
    if (final) stderr.write(`${interactive ? '\r' : ''}${verb} ${count}\n`);
    else if (interactive && count % 100 === 0) stderr.write(`\r${verb} ${count}…`);
  };
}

export function formatDeadLetter(letter: DeadLetter, json: boolean): string {
  if (json)
    return formatMessage(letter, true).replace(
      /}$/,
      `,"reason":${JSON.stringify(letter.reason)},"attempts":${letter.attempts},"error":${JSON.stringify(letter.error)}}`,
    );
  const why = `${letter.reason} after ${letter.attempts} attempt(s): ${letter.error.class}: ${letter.error.message}`;
  return `${formatMessage(letter, false)}\n  ${pc.red(why)}`;
}
