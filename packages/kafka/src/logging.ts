import type { Logger } from '@eventport/core';
import { type logCreator, logLevel } from 'kafkajs';

const SECRET_FIELD = /sasl|password|secret|token|credential|ssl/i;

/**
 * Routes kafkajs's own log lines into the adapter's logger, one level down: kafkajs logs every
 * refused connection of a reconnect loop as an error, which is routine for us (the failure that
 * matters reaches the caller as a typed error or through onError). Fields that could carry
 * credentials are dropped, not just redacted.
 */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, stack: _stack, ...extra } = log;
      const fields: Record<string, unknown> = { source: `kafkajs${namespace ? `:${namespace}` : ''}` };
      for (const [name, value] of Object.entries(extra)) {
        if (!SECRET_FIELD.test(name)) fields[name] = value;
      }
      const text = String(message);
      if (level === logLevel.ERROR) logger.warn(text, fields);
      else if (level === logLevel.WARN) logger.info(text, fields);
      else logger.debug(text, fields);
    };
}

export { logLevel as kafkaLogLevel };
